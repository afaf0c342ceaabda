"""Fixtures for tracking's integration tests: the real test database, migrated."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from onceonly.platform.testing import migrated_pool
from onceonly.tracking.store import TrackingStore


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="tracking", package="onceonly.tracking", max_size=20
    ) as created:
        yield created


@pytest.fixture
def store(pool: asyncpg.Pool) -> TrackingStore:
    return TrackingStore(pool)


# A single sign-on provider on loopback (the console's OIDC sign-in tests).
ISSUER = "https://sso.zj.example.gov.cn/realms/staff"
AUDIENCE = "onceonly-staff"


class Provider(ThreadingHTTPServer):
    """GET /jwks: its key; POST /token: a signed access token for the code it gave,
    once the verifier matches the challenge the code was given for."""

    issuer = ISSUER
    audience = AUDIENCE

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Endpoints)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, str] = {}  # code -> the code challenge it was given for
        self.claims: dict[str, Any] = {}
        self.exchanges: list[dict[str, list[str]]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def authorize(self, location: str) -> str:
        """What the provider does with the browser: a code for the challenge, back to
        the redirect URI with the state."""
        query = parse_qs(urlsplit(location).query)
        code = f"code-{len(self.codes)}"
        self.codes[code] = query["code_challenge"][0]
        return f"{query['redirect_uri'][0]}?code={code}&state={query['state'][0]}"

    def token(self) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "wang.jc",
            "department": "supervision-office",
            "roles": ["supervision"],
            "region": "330100",
            "iat": now,
            "exp": now + timedelta(hours=1),
            **self.claims,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "rs-1"})


class _Endpoints(BaseHTTPRequestHandler):
    server: Provider

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/authorize"):
            # The staff member signs in at the provider: back to the console with a code.
            self.send_response(302)
            self.send_header("Location", self.server.authorize(self.path))
            self.end_headers()
            return
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.server.key.public_key())
        self._answer(200, {"keys": [{**json.loads(public), "kid": "rs-1"}]})

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.server.exchanges.append(form)
        challenge = self.server.codes.pop(form.get("code", [""])[0], None)
        verifier = form.get("code_verifier", [""])[0].encode()
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge is None or computed.decode() != challenge:
            self._answer(400, {"error": "invalid_grant"})
            return
        self._answer(200, {"access_token": self.server.token(), "token_type": "Bearer"})

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
