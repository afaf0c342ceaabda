"""Signed staff tokens (department reviewers, supervision and operations staff).

A token is a JWT (HS256) for one API: its `aud` names the API (the department API of
the workflow, tracking, notify's staff API) and each API has its own keys, so a token
for one is refused by the others and a service holding one API's keys cannot sign for
another. The `kid` header names the key that signed it among the API's keys (current
first, then the previous ones while they rotate out; see `secrets.KeyRing`). A token
carries the staff id, the department and the roles, and must expire: one valid for
longer than the API's maximum (12 hours unless configured) is refused, as is one whose
department is not in the catalogue for the roles that act for a department.
Where a single sign-on provider is configured (`ONCEONLY_STAFF_OIDC_*`), its RS256 or
ES256 tokens are accepted too (`oidc`), with the same checks after their signature.
Integrators use API keys instead (see intake).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Request

from onceonly.platform.access_log import identify_caller
from onceonly.platform.divisions import is_division_code
from onceonly.platform.http import Problem
from onceonly.platform.limits import check_staff_rate
from onceonly.platform.oidc import OidcRefused, OidcSettings, verify_provider_token
from onceonly.platform.secrets import KeyRing, SettingsRefused, env_name
from onceonly.platform.settings import PlatformSettings, development_refusal

ISSUER = "onceonly"
ROLES = ("reviewer", "department_head", "window", "supervision", "operations")
# Roles that act for one department of the catalogue (the window's staff for the service
# centre); supervision and operations belong to offices outside it (the supervision
# office, the operations centre).
DEPARTMENT_ROLES = ("reviewer", "department_head", "window")
# Roles that oversee every department: they read every application (the full view).
OVERSIGHT_ROLES = ("supervision", "operations")
# Clock skew tolerated between the issuer and the API.
LEEWAY_SECONDS = 30
# The console's session cookie: a staff token of the API that set it (HttpOnly,
# SameSite=Strict), taken where no Authorization header is sent.
SESSION_COOKIE = "onceonly_staff"


class StaffApi(StrEnum):
    """The APIs that accept staff tokens; the value is the token's `aud`."""

    DEPARTMENT = "onceonly-department-api"
    TRACKING = "onceonly-tracking-api"
    NOTIFY = "onceonly-notify-api"

    @property
    def key_setting(self) -> str:
        """The setting that holds this API's token keys."""
        return f"{self.name.lower()}_api_token_keys"


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    staff_id: str
    department_code: str
    roles: tuple[str, ...]
    # 行政区划: the division the staff member works for (GB/T 2260, or a township's nine
    # digits); they see applications decided there and under it. "" is the whole province.
    region: str = ""


@dataclass(frozen=True, slots=True)
class StaffTokens:
    """How one API checks staff tokens: its audience, its keys by id, the longest
    lifetime it accepts, and which department codes exist (None: not checked)."""

    api: StaffApi
    keys: KeyRing
    max_lifetime: timedelta = timedelta(hours=12)
    known_department: Callable[[str], bool] | None = None
    # The single sign-on provider whose tokens are accepted too (None: local ones only).
    oidc: OidcSettings | None = None

    @classmethod
    def from_settings(
        cls,
        settings: PlatformSettings,
        api: StaffApi,
        *,
        known_department: Callable[[str], bool] | None = None,
    ) -> StaffTokens:
        """The API's keys and maximum lifetime from settings (refused if its keys are not
        configured)."""
        variable = env_name(type(settings), api.key_setting)
        spec = getattr(settings, api.key_setting).get_secret_value()
        if not spec:
            why = development_refusal(settings)
            hint = f"; development keys need ONCEONLY_ENVIRONMENT=development (here: {why})"
            unset = f"{variable} (or {variable}_FILE) is not set"
            raise SettingsRefused(unset + hint if why else unset)
        return cls(
            api=api,
            keys=KeyRing.parse(spec, setting=variable),
            max_lifetime=timedelta(hours=settings.staff_token_max_hours),
            known_department=known_department,
            oidc=settings.staff_oidc(),
        )

    def issue(
        self,
        *,
        staff_id: str,
        department_code: str,
        roles: tuple[str, ...] = ("reviewer",),
        ttl: timedelta | None = None,
        region: str = "",
    ) -> str:
        """A token for this API, signed with its current key, valid for `ttl` (the most
        the API accepts if not given)."""
        return issue_staff_token(
            self.keys,
            api=self.api,
            staff_id=staff_id,
            department_code=department_code,
            roles=roles,
            ttl=ttl or self.max_lifetime,
            region=region,
        )

    def verify(self, token: str) -> StaffIdentity:
        """The token's staff, or Problem(401) (see `verify_staff_token`)."""
        return verify_staff_token(self, token)


def issue_staff_token(
    keys: KeyRing,
    *,
    api: StaffApi,
    staff_id: str,
    department_code: str,
    roles: tuple[str, ...] = ("reviewer",),
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
    region: str = "",
) -> str:
    """A token for `api`, signed with the current key of `keys` (its id in `kid`)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    if region and not is_division_code(region):
        raise ValueError(f"{region!r} is not a division code (6 or 9 digits)")
    if ttl <= timedelta(0):
        raise ValueError("a token must expire after it is issued")
    issued = now or datetime.now(UTC)
    key_id, key = keys.current
    claims = {
        "iss": ISSUER,
        "aud": api.value,
        "sub": staff_id,
        "dept": department_code,
        "roles": list(roles),
        "iat": issued,
        "exp": issued + ttl,
        **({"region": region} if region else {}),
    }
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id})


def verify_staff_token(tokens: StaffTokens, token: str) -> StaffIdentity:
    """Raises Problem(401) for a missing, expired, forged, malformed, too long-lived or
    other API's token, or one of a department that does not exist."""
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise _unauthorised("The token is not valid. 令牌无效.") from None
    key = tokens.keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise _unauthorised("The token is not valid (unknown key). 令牌无效.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=ISSUER,
            audience=tokens.api.value,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "aud", "iss"], "strict_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorised("The token has expired. 令牌已过期.") from None
    except jwt.InvalidAudienceError:
        raise _unauthorised("The token is for another API. 令牌不适用于此接口.") from None
    except jwt.PyJWTError:
        raise _unauthorised("The token is not valid. 令牌无效.") from None
    _check_lifetime(tokens, float(claims["exp"]), float(claims["iat"]))
    identity = _identity(claims)
    _check_department(tokens, identity)
    return identity


async def authenticate_staff(tokens: StaffTokens, token: str) -> StaffIdentity:
    """The token's staff: a local token as `verify_staff_token` checks it, or, where a
    provider is configured, one of its tokens (any algorithm but HS256), checked by its
    signature (`oidc`) and then for lifetime and department like a local one."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except jwt.PyJWTError:
        raise _unauthorised("The token is not valid. 令牌无效.") from None
    if tokens.oidc is None or algorithm == "HS256":
        return verify_staff_token(tokens, token)
    try:
        claims = await verify_provider_token(
            tokens.oidc, token, known_roles=ROLES, leeway=LEEWAY_SECONDS
        )
    except OidcRefused as refused:
        raise _unauthorised(f"The sign-on token is refused: {refused}. 令牌无效.") from None
    _check_lifetime(tokens, claims.expires_at, claims.issued_at)
    identity = StaffIdentity(
        staff_id=claims.staff_id,
        department_code=claims.department_code,
        roles=claims.roles,
        region=claims.region,
    )
    _check_department(tokens, identity)
    return identity


def _check_department(tokens: StaffTokens, identity: StaffIdentity) -> None:
    if (
        tokens.known_department is not None
        and set(identity.roles) & set(DEPARTMENT_ROLES)
        and not tokens.known_department(identity.department_code)
    ):
        raise _unauthorised("The token's department does not exist. 部门不存在.")


def sees_every_application(who: StaffIdentity) -> bool:
    """Whether `who` has the full view: supervision and operations staff do."""
    return bool(set(who.roles) & set(OVERSIGHT_ROLES))


def may_see_application(who: StaffIdentity, departments: Collection[str]) -> bool:
    """Whether `who` may read an application whose tasks are (or were) of `departments`.

    A reviewer or a department head sees an application only where their department has
    or had a task (a removed or returned one still counts: it acted on the application);
    supervision and operations see every one. Callers answer "no" exactly as they answer
    an unknown application, so that codes, which are sequential, cannot be probed."""
    return sees_every_application(who) or who.department_code in departments


def _check_lifetime(tokens: StaffTokens, expires: float, issued: float | None) -> None:
    limit = tokens.max_lifetime.total_seconds()
    left = expires - datetime.now(UTC).timestamp()
    if (issued is not None and expires - issued > limit) or left > limit + LEEWAY_SECONDS:
        hours = f"{limit / 3600:g}"
        raise _unauthorised(
            f"The token is valid for longer than this API accepts ({hours} h). 令牌有效期过长."
        )


def _identity(claims: dict[str, Any]) -> StaffIdentity:
    roles = claims.get("roles", [])
    department = claims.get("dept", "")
    region = claims.get("region", "")
    if (
        not isinstance(roles, list)
        or not all(isinstance(role, str) and role in ROLES for role in roles)
        or not isinstance(department, str)
        or not isinstance(region, str)
        or (region and not is_division_code(region))
    ):
        raise _unauthorised("The token is not valid. 令牌无效.")
    return StaffIdentity(
        staff_id=str(claims["sub"]),
        department_code=department,
        roles=tuple(roles),
        region=region,
    )


def in_region(who: StaffIdentity, region: str) -> bool:
    """Whether an application decided in `region` lies in `who`'s division: codes nest
    by prefix (a province XX0000 holds XX...., a city XXXX00 holds XXXX.., a county its
    townships), and staff without a region work for the whole province."""
    return not who.region or region.startswith(region_prefix(who.region))


def region_prefix(region: str) -> str:
    """What every division under `region` (and it) starts with."""
    if len(region) == 6 and region.endswith("0000"):
        return region[:2]
    if len(region) == 6 and region.endswith("00"):
        return region[:4]
    return region


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorised",
        detail,
        type_="https://onceonly.dev/problems/unauthorised",
        headers={"WWW-Authenticate": "Bearer"},
    )


def staff_dependency(
    tokens: StaffTokens, *, roles: tuple[str, ...] = (), cookie: bool = False
) -> Callable[[Request], Coroutine[Any, Any, StaffIdentity]]:
    """A FastAPI dependency: the bearer token's staff, holding one of `roles` if given;
    with `cookie`, the console's session cookie serves when no header is sent."""

    async def current_staff(request: Request) -> StaffIdentity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and cookie and request.cookies.get(SESSION_COOKIE):
            scheme, token = "bearer", request.cookies[SESSION_COOKIE]
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("Send `Authorization: Bearer <staff token>`. 需要工作人员令牌.")
        identity = await authenticate_staff(tokens, token.strip())
        identify_caller(staff_id=identity.staff_id, department=identity.department_code)
        # After the token (the bucket is the staff member's), before any work (429).
        check_staff_rate(request, identity.staff_id)
        if roles and not set(roles) & set(identity.roles):
            raise Problem(
                403,
                "Forbidden",
                f"This needs one of the roles: {', '.join(roles)}. 无此权限.",
                type_="https://onceonly.dev/problems/forbidden",
            )
        return identity

    return current_staff


class SignedInStaff:
    """A dependency: the bearer token's staff, holding one of `roles` (401, 403 problems),
    checked as `tokens` says for the request's API (built from the app's settings,
    reached through `request.app.state`)."""

    def __init__(
        self, *roles: str, tokens: Callable[[Request], StaffTokens], cookie: bool = False
    ) -> None:
        self.roles = roles
        self._tokens = tokens
        self._cookie = cookie

    async def __call__(self, request: Request) -> StaffIdentity:
        check = staff_dependency(self._tokens(request), roles=self.roles, cookie=self._cookie)
        return await check(request)
