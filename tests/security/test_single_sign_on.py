"""Staff signed in by the government's single sign-on: the tracking API accepts RS256
and ES256 tokens of a provider whose JWKS this test serves over HTTP on loopback, picks
up a rotated key, and refuses what it should (the rules in libs/platform's test_oidc)."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

ISSUER = "https://sso.zj.example.gov.cn/realms/staff"
AUDIENCE = "onceonly-staff"
KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"


class Provider(ThreadingHTTPServer):
    """A provider's JWKS endpoint: GET /jwks answers the keys published now."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Jwks)
        self.published: dict[str, Any] = {}
        self.requests = 0

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/jwks"

    def publish(self, kid: str, private: Any) -> None:
        algorithm = (
            jwt.algorithms.RSAAlgorithm if kid.startswith("rs") else jwt.algorithms.ECAlgorithm
        )
        self.published[kid] = {**json.loads(algorithm.to_jwk(private.public_key())), "kid": kid}

    def token(self, kid: str, private: Any, **claims: Any) -> str:
        now = datetime.now(UTC)
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "li.na",
            "department": "supervision-office",
            "roles": ["supervision", "uma_authorization"],
            "iat": now,
            "exp": now + timedelta(hours=1),
            **claims,
        }
        algorithm = "RS256" if kid.startswith("rs") else "ES256"
        return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid})


class _Jwks(BaseHTTPRequestHandler):
    server: Provider

    def do_GET(self) -> None:
        self.server.requests += 1
        body = json.dumps({"keys": list(self.server.published.values())}).encode()
        self.send_response(200 if self.path == "/jwks" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def tracking(provider: Provider, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=2) as pool,
    ):
        settings = TrackingSettings(
            environment="development",
            database_url=dsn,
            tracking_api_token_keys=KEYS,
            staff_oidc_issuer=ISSUER,
            staff_oidc_audience=AUDIENCE,
            staff_oidc_jwks_url=provider.jwks_url,
        )
        app = create_app(settings, pool=pool)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client


async def search(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/v1/applications", headers={"Authorization": f"Bearer {token}"})


async def test_provider_tokens_sign_staff_in_and_rotation_is_picked_up(
    provider: Provider, tracking: httpx.AsyncClient
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    provider.publish("rs-2026-12", rsa_key)
    provider.publish("ec-2026-12", ec_key)

    for kid, key in (("rs-2026-12", rsa_key), ("ec-2026-12", ec_key)):
        answer = await search(tracking, provider.token(kid, key))
        assert answer.status_code == 200, answer.text
    assert provider.requests == 1  # both keys from one fetch, then cached

    # The provider rotates: a token signed by the new key before we saw it.
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.publish("rs-2027-01", rotated)
    from onceonly.platform import oidc

    oidc._CACHES[provider.jwks_url].attempted_at -= 60  # past the refresh interval
    answer = await search(tracking, provider.token("rs-2027-01", rotated))
    assert answer.status_code == 200, answer.text
    assert provider.requests == 2

    # Refused: another issuer, another audience, expired, a key it never published,
    # no role of ours, a reviewer of no department; a reviewer may not search all.
    refused = [
        provider.token("rs-2026-12", rsa_key, iss="https://other.example"),
        provider.token("rs-2026-12", rsa_key, aud="other-app"),
        provider.token("rs-2026-12", rsa_key, exp=datetime.now(UTC) - timedelta(minutes=5)),
        provider.token("rs-forged", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        provider.token("rs-2026-12", rsa_key, roles=["uma_authorization"]),
        provider.token("rs-2026-12", rsa_key, roles=["reviewer"], department="no-such-dept"),
    ]
    for token in refused:
        answer = await search(tracking, token)
        assert answer.status_code == 401, answer.text
        assert answer.json()["type"].endswith("/unauthorised")
    assert provider.requests == 2  # the forged key id fetched nothing more (interval)
    reviewer = provider.token("ec-2026-12", ec_key, roles=["reviewer"], department="tax")
    answer = await search(tracking, reviewer)
    assert answer.status_code == 200 and answer.json()["items"] == []
