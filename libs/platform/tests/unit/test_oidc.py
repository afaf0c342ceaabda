"""Staff tokens of a single sign-on provider: signature by the JWKS, issuer, audience,
expiry, claims, key rotation and the JWKS fetch limit (the provider is a function here;
tests/integration serves a real JWKS over HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from onceonly.platform.auth import (
    StaffApi,
    StaffTokens,
    authenticate_staff,
    in_region,
    issue_staff_token,
)
from onceonly.platform.http import Problem
from onceonly.platform.oidc import JwksCache, OidcRefused, OidcSettings, verify_provider_token
from onceonly.platform.secrets import KeyRing
from onceonly.platform.settings import PlatformSettings

ISSUER = "https://sso.example.gov.cn/realms/zj"
AUDIENCE = "onceonly"
SETTINGS = OidcSettings(
    issuer=ISSUER,
    audience=AUDIENCE,
    jwks_url="https://sso.example.gov.cn/jwks",
    roles_claim="realm_access.roles",
    department_claim="dept_code",
    region_claim="division",
)
LOCAL = KeyRing.parse("local-1:tracking-api-test-secret-of-32-bytes-or-more", setting="test")


class Provider:
    """Keys of a provider and its JWKS as `JwksCache.fetch` reads it, counted."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.published = {"rsa-1": self.rsa.public_key(), "ec-1": self.ec.public_key()}
        self.fetched = 0

    async def fetch(self, url: str) -> dict[str, Any]:
        self.fetched += 1
        keys = []
        for kid, public in self.published.items():
            algorithm = (
                jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else jwt.algorithms.ECAlgorithm
            )
            jwk = json.loads(algorithm.to_jwk(public))
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def cache(self) -> JwksCache:
        return JwksCache(
            SETTINGS.jwks_url, refresh_seconds=30, max_age_seconds=3600, fetch=self.fetch
        )

    def token(
        self,
        kid: str = "rsa-1",
        *,
        key: Any = None,
        algorithm: str | None = None,
        hours: float = 1,
        **claims: Any,
    ) -> str:
        now = datetime.now(UTC)
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "zhang.wei",
            "dept_code": "tax",
            "realm_access": {"roles": ["offline_access", "reviewer"]},
            "iat": now,
            "exp": now + timedelta(hours=hours),
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        signer = key or (self.rsa if kid.startswith("rsa") else self.ec)
        alg = algorithm or ("RS256" if kid.startswith("rsa") else "ES256")
        return jwt.encode(body, signer, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def provider() -> Provider:
    return Provider()


async def verify(provider: Provider, token: str, cache: JwksCache | None = None):
    return await verify_provider_token(
        SETTINGS,
        token,
        known_roles=("reviewer", "department_head", "supervision"),
        leeway=30,
        cache=cache or provider.cache(),
    )


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
async def test_rs256_and_es256_tokens_give_the_staff_member(provider, kid) -> None:
    claims = await verify(provider, provider.token(kid))
    assert (claims.staff_id, claims.department_code, claims.roles) == (
        "zhang.wei",
        "tax",
        ("reviewer",),
    )


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"aud": "other-app"}, "another audience"),
        ({"exp": datetime.now(UTC) - timedelta(hours=1)}, "expired"),
        ({"dept_code": None}, "no department"),
        ({"realm_access": {"roles": ["offline_access", "admin"]}}, "none of the roles"),
        ({"realm_access": None}, "no roles"),
        ({"division": "33"}, "not a division code"),
        ({"division": 330100}, "not a division code"),
    ],
)
async def test_refused_tokens_say_why(provider, claims, why) -> None:
    with pytest.raises(OidcRefused, match=why):
        await verify(provider, provider.token(**claims))


async def test_a_key_of_another_kind_or_no_signature_is_refused(provider) -> None:
    # The EC key named as the RSA one; an unsigned token; HS256 over the public key.
    with pytest.raises(OidcRefused, match=r"not valid|not for that algorithm"):
        await verify(provider, provider.token("rsa-1", key=provider.ec, algorithm="ES256"))
    unsigned = jwt.encode({"iss": ISSUER}, None, algorithm="none", headers={"kid": "rsa-1"})
    with pytest.raises(OidcRefused, match="algorithm"):
        await verify(provider, unsigned)
    pem = provider.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE},
        pem.decode()[:40] * 2,
        algorithm="HS256",
        headers={"kid": "rsa-1"},
    )
    with pytest.raises(OidcRefused, match="algorithm"):
        await verify(provider, forged)


async def test_a_new_key_is_fetched_once_and_forged_key_ids_do_not_hammer(provider) -> None:
    cache = provider.cache()
    await verify(provider, provider.token("rsa-1"), cache)
    assert provider.fetched == 1
    # Rotation: the provider publishes a new key; its first token makes us fetch again.
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider.published["rsa-2"] = rotated.public_key()
    cache.attempted_at -= 31  # the refresh interval has passed
    claims = await verify(provider, provider.token("rsa-2", key=rotated), cache)
    assert claims.staff_id == "zhang.wei" and provider.fetched == 2
    # Unknown key ids within the interval: refused without asking the provider again.
    for n in range(20):
        with pytest.raises(OidcRefused, match="unknown key"):
            await verify(provider, provider.token(f"rsa-forged-{n}", key=rotated), cache)
    assert provider.fetched == 2


async def test_a_provider_outage_keeps_the_keys_we_had(provider) -> None:
    cache = provider.cache()
    await verify(provider, provider.token("ec-1"), cache)

    async def down(url: str) -> dict[str, Any]:
        raise OSError("connection refused")

    cache.fetch = down
    cache.fetched_at -= 7200  # stale: it tries again, fails, and keeps them
    cache.attempted_at -= 31
    assert (await verify(provider, provider.token("ec-1"), cache)).staff_id == "zhang.wei"


async def test_the_apis_accept_both_kinds_with_the_same_checks(provider, monkeypatch) -> None:
    tokens = StaffTokens(
        api=StaffApi.TRACKING,
        keys=LOCAL,
        known_department=lambda code: code == "tax",
        oidc=SETTINGS,
    )
    monkeypatch.setattr("onceonly.platform.oidc._CACHES", {SETTINGS.jwks_url: provider.cache()})
    local = issue_staff_token(LOCAL, api=StaffApi.TRACKING, staff_id="s-1", department_code="tax")
    assert (await authenticate_staff(tokens, local)).staff_id == "s-1"
    assert (await authenticate_staff(tokens, provider.token("ec-1"))).roles == ("reviewer",)
    # Longer-lived than the API accepts (12 h), or of a department that does not exist.
    for token in (provider.token(hours=13), provider.token(dept_code="no-such-dept")):
        with pytest.raises(Problem) as refused:
            await authenticate_staff(tokens, token)
        assert refused.value.status == 401
    # Without a provider configured, its tokens are not even looked at.
    plain = StaffTokens(api=StaffApi.TRACKING, keys=LOCAL)
    with pytest.raises(Problem):
        await authenticate_staff(plain, provider.token("rsa-1"))


async def test_the_division_claim_scopes_the_staff_member(provider, monkeypatch) -> None:
    # A city's reviewer (行政区划 from the provider's claim); none: the whole province.
    assert (await verify(provider, provider.token(division="330100"))).region == "330100"
    assert (await verify(provider, provider.token())).region == ""
    tokens = StaffTokens(api=StaffApi.TRACKING, keys=LOCAL, oidc=SETTINGS)
    monkeypatch.setattr("onceonly.platform.oidc._CACHES", {SETTINGS.jwks_url: provider.cache()})
    county = await authenticate_staff(tokens, provider.token(division="330106"))
    assert county.region == "330106"
    assert in_region(county, "330106") and not in_region(county, "330102")


def test_settings_refuse_an_incomplete_or_plain_http_provider() -> None:
    with pytest.raises(ValidationError, match="issuer"):
        PlatformSettings(environment="development", staff_oidc_audience="onceonly")
    with pytest.raises(ValidationError, match="JWKS URL must be https"):
        PlatformSettings(
            environment="development",
            staff_oidc_issuer=ISSUER,
            staff_oidc_audience=AUDIENCE,
            staff_oidc_jwks_url="ftp://sso/jwks",
        )
    assert SETTINGS.problems(development=False) == []
    plain = OidcSettings(ISSUER, AUDIENCE, "http://sso/jwks")
    assert plain.problems(development=True) == []
    assert plain.problems(development=False)
    assert OidcSettings(ISSUER, AUDIENCE, SETTINGS.jwks_url, algorithms=("HS256",)).problems(
        development=False
    )
    configured = PlatformSettings(
        environment="development",
        staff_oidc_issuer=ISSUER,
        staff_oidc_audience=AUDIENCE,
        staff_oidc_jwks_url="http://127.0.0.1:1/jwks",
        staff_oidc_roles_claim="realm_access.roles",
    ).staff_oidc()
    assert configured is not None and configured.roles_claim == "realm_access.roles"
    assert configured.algorithms == ("RS256", "ES256")
    assert configured.region_claim == "region"
