"""Signed staff tokens (department reviewers, supervision and operations staff).

A token is a JWT (HS256) signed with the shared signing secret, carrying the staff id,
the department and the roles. Integrators use API keys instead (see intake).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from fastapi import Request

from onceonly.platform.access_log import identify_caller
from onceonly.platform.http import Problem

ISSUER = "onceonly"
ROLES = ("reviewer", "department_head", "supervision", "operations")


@dataclass(frozen=True, slots=True)
class StaffIdentity:
    staff_id: str
    department_code: str
    roles: tuple[str, ...]


def issue_staff_token(
    secret: str,
    *,
    staff_id: str,
    department_code: str,
    roles: tuple[str, ...] = ("reviewer",),
    ttl: timedelta = timedelta(hours=12),
) -> str:
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": staff_id,
        "dept": department_code,
        "roles": list(roles),
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_staff_token(secret: str, token: str) -> StaffIdentity:
    """Raises Problem(401) for a missing, expired, forged or malformed token."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorised("The token has expired. 令牌已过期.") from None
    except jwt.PyJWTError:
        raise _unauthorised("The token is not valid. 令牌无效.") from None
    return StaffIdentity(
        staff_id=str(claims["sub"]),
        department_code=str(claims.get("dept", "")),
        roles=tuple(str(role) for role in claims.get("roles", ())),
    )


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorised",
        detail,
        type_="https://onceonly.dev/problems/unauthorised",
        headers={"WWW-Authenticate": "Bearer"},
    )


def staff_dependency(
    secret: str, *, roles: tuple[str, ...] = ()
) -> Callable[[Request], Coroutine[Any, Any, StaffIdentity]]:
    """A FastAPI dependency: the bearer token's staff, holding one of `roles` if given."""

    async def current_staff(request: Request) -> StaffIdentity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("Send `Authorization: Bearer <staff token>`. 需要工作人员令牌.")
        identity = verify_staff_token(secret, token.strip())
        identify_caller(staff_id=identity.staff_id, department=identity.department_code)
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
    checked with the signing secret that `secret` reads from the request (the app's
    settings, reached through `request.app.state`)."""

    def __init__(self, *roles: str, secret: Callable[[Request], str]) -> None:
        self.roles = roles
        self._secret = secret

    async def __call__(self, request: Request) -> StaffIdentity:
        return await staff_dependency(self._secret(request), roles=self.roles)(request)
