"""Staff tokens from the government's single sign-on (an OIDC provider).

Beside the local HS256 tokens (`auth`), an API may accept the provider's access tokens:
signed RS256 or ES256 with a key of the provider's JWKS (fetched from its URL, cached,
fetched again when a token names a key id it lacks, at most once per
`refresh_seconds` so that forged key ids cannot make us hammer the provider), issued by
the configured issuer for the configured audience, not expired. The staff id, roles,
department and division (region) come from configurable claims (a dotted path reaches
into nested claims, as Keycloak's `realm_access.roles`); roles the system does not know
are ignored, and a token with none of ours is refused. Everything else about a staff
token (lifetime, department in the catalogue, roles per endpoint) is checked as for
local tokens.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import structlog

from onceonly.platform.divisions import is_division_code

log = structlog.get_logger(__name__)

ALGORITHMS = ("RS256", "ES256")


class OidcRefused(ValueError):
    """A provider token that is not accepted; the message says why (for the 401)."""


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = ALGORITHMS
    staff_id_claim: str = "sub"
    roles_claim: str = "roles"
    department_claim: str = "department"
    # The division (GB/T 2260 code, or a township's nine digits) the staff member works
    # for; a token without it is for the whole province, as a local token without one.
    region_claim: str = "region"
    # Fetch the JWKS again for an unknown key id at most this often, and in any case
    # once the keys are this old.
    refresh_seconds: float = 30.0
    max_age_seconds: float = 3600.0

    def problems(self, *, development: bool) -> list[str]:
        """What makes these settings unusable (empty: usable)."""
        found = []
        if not (self.issuer and self.audience and self.jwks_url):
            found.append("the issuer, the audience and the JWKS URL are all needed")
        scheme = urlsplit(self.jwks_url).scheme
        if self.jwks_url and scheme != "https" and not (development and scheme == "http"):
            found.append("the JWKS URL must be https (http only in development)")
        if unknown := sorted(set(self.algorithms) - set(ALGORITHMS)):
            found.append(f"algorithms {unknown} are not accepted (only {list(ALGORITHMS)})")
        if not self.algorithms:
            found.append("no algorithm")
        return found


def _fetch(url: str) -> dict[str, Any]:
    # The scheme is https (http in development only): OidcSettings.problems.
    if urlsplit(url).scheme not in ("https", "http"):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
        document = json.loads(answer.read(1_000_000))
    if not isinstance(document, dict):
        raise ValueError("not a JWKS document")
    return document


@dataclass
class JwksCache:
    """The provider's signing keys by key id."""

    url: str
    refresh_seconds: float
    max_age_seconds: float
    fetch: Callable[[str], Awaitable[dict[str, Any]]] | None = None
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    attempted_at: float = float("-inf")
    fetches: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, key_id: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        stale = now - self.fetched_at > self.max_age_seconds
        if (key_id not in self.keys or stale) and now - self.attempted_at >= self.refresh_seconds:
            async with self._lock:
                if now - self.attempted_at >= self.refresh_seconds:  # not done meanwhile
                    await self._refresh()
        return self.keys.get(key_id)

    async def _refresh(self) -> None:
        self.attempted_at = time.monotonic()
        self.fetches += 1
        try:
            document = await (self.fetch or _fetch_in_thread)(self.url)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            # Kept: the keys we had (a provider outage must not sign everyone out).
            log.warning("staff jwks not fetched", url=self.url, error=type(exc).__name__)
            return
        self.keys = {key.key_id: key for key in keys if key.key_id}
        self.fetched_at = time.monotonic()


async def _fetch_in_thread(url: str) -> dict[str, Any]:
    return await asyncio.to_thread(_fetch, url)


# One cache per JWKS URL in a process: settings objects come and go, the keys stay.
_CACHES: dict[str, JwksCache] = {}


def jwks_cache(settings: OidcSettings) -> JwksCache:
    cache = _CACHES.get(settings.jwks_url)
    if cache is None:
        cache = _CACHES[settings.jwks_url] = JwksCache(
            settings.jwks_url, settings.refresh_seconds, settings.max_age_seconds
        )
    return cache


@dataclass(frozen=True)
class ProviderClaims:
    """What a verified provider token says about its staff member."""

    staff_id: str
    department_code: str
    roles: tuple[str, ...]
    issued_at: float | None
    expires_at: float
    region: str = ""


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


async def verify_provider_token(
    settings: OidcSettings,
    token: str,
    *,
    known_roles: tuple[str, ...],
    leeway: float,
    cache: JwksCache | None = None,
) -> ProviderClaims:
    """The token's claims once its signature, issuer, audience and expiry hold;
    OidcRefused otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise OidcRefused("not a token") from None
    algorithm, key_id = header.get("alg"), header.get("kid")
    if algorithm not in settings.algorithms:
        raise OidcRefused("signed with an algorithm this API does not accept")
    if not isinstance(key_id, str) or not key_id:
        raise OidcRefused("no key id")
    key = await (cache or jwks_cache(settings)).key(key_id)
    if key is None:
        raise OidcRefused("unknown key")
    if key.algorithm_name != algorithm:
        raise OidcRefused("the key is not for that algorithm")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise OidcRefused("expired") from None
    except jwt.InvalidAudienceError:
        raise OidcRefused("for another audience") from None
    except jwt.InvalidIssuerError:
        raise OidcRefused("from another issuer") from None
    except jwt.PyJWTError:
        raise OidcRefused("not valid") from None
    staff_id = _claim(claims, settings.staff_id_claim)
    department = _claim(claims, settings.department_claim)
    raw_roles = _claim(claims, settings.roles_claim)
    if not isinstance(staff_id, str) or not staff_id:
        raise OidcRefused(f"no staff id in `{settings.staff_id_claim}`")
    if not isinstance(department, str) or not department:
        raise OidcRefused(f"no department in `{settings.department_claim}`")
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    if not isinstance(raw_roles, list):
        raise OidcRefused(f"no roles in `{settings.roles_claim}`")
    roles = tuple(role for role in raw_roles if isinstance(role, str) and role in known_roles)
    if not roles:
        raise OidcRefused(f"none of the roles {list(known_roles)} in `{settings.roles_claim}`")
    region = _claim(claims, settings.region_claim)
    if region is None:
        region = ""
    if not isinstance(region, str) or (region and not is_division_code(region)):
        raise OidcRefused(f"`{settings.region_claim}` is not a division code (6 or 9 digits)")
    issued = claims.get("iat")
    return ProviderClaims(
        staff_id=staff_id,
        department_code=department,
        roles=roles,
        issued_at=float(issued) if isinstance(issued, int | float) else None,
        expires_at=float(claims["exp"]),
        region=region,
    )
