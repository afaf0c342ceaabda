"""Intake authenticates integrators through the platform's key directory (the port, here
its in-memory fake): the key's integrator, or the same 401 for a missing, malformed,
unknown, wrong or revoked key."""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.security import HTTPAuthorizationCredentials

from onceonly.intake.api.dependencies import Integrator, current_integrator
from onceonly.platform.http import Problem
from onceonly.platform.integrator_keys import InMemoryIntegratorKeys


def bearer(token: str) -> HTTPAuthorizationCredentials:
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


def request_with(keys: InMemoryIntegratorKeys) -> Any:
    """A request as the dependency reads it: the app's state holds the key directory."""
    return SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(intake=SimpleNamespace(keys=keys)))
    )


async def test_a_valid_key_is_its_integrator_and_a_revoked_one_is_refused() -> None:
    keys = InMemoryIntegratorKeys()
    key = await keys.issue("portal-1")
    request = request_with(keys)
    assert await current_integrator(bearer(key.token), request) == Integrator("portal-1")

    await keys.revoke(key.key_id)
    with pytest.raises(Problem) as refused:
        await current_integrator(bearer(key.token), request)
    assert refused.value.status == 401


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-key", f"oo_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"],
)
async def test_missing_malformed_and_unknown_keys_are_one_401(token: str | None) -> None:
    keys = InMemoryIntegratorKeys()
    await keys.issue("portal-1")
    with pytest.raises(Problem) as refused:
        await current_integrator(None if token is None else bearer(token), request_with(keys))
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
