"""Staff tokens an outsider or a departed insider might hold, against the real API
processes (department, tracking, notify), each signed with the API's own current key so
that only the claim under test is wrong: every one is a 401."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from onceonly.intake.application_code import format_application_code
from onceonly.platform.auth import ISSUER, StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings

from .conftest import System

SOME_CODE = format_application_code("330100", date(2026, 11, 23), 1)
# A GET of each API, and the department and roles of a token it accepts for it.
READS = {
    StaffApi.DEPARTMENT: ("workflow", "/v1/tasks", "tax", ["reviewer"]),
    StaffApi.TRACKING: (
        "tracking",
        f"/v1/applications/{SOME_CODE}/timeline",
        "supervision-office",
        ["supervision"],
    ),
    StaffApi.NOTIFY: (
        "notify",
        f"/v1/notifications?application_code={SOME_CODE}",
        "operations-centre",
        ["operations"],
    ),
}


def forged(
    api: StaffApi,
    *,
    department: str = "tax",
    roles: tuple[str, ...] | list[str] = ("reviewer",),
    lifetime: timedelta = timedelta(hours=1),
    drop: tuple[str, ...] = (),
    **overrides: Any,
) -> str:
    """A token signed with `api`'s current development key (what the processes run with),
    with the claims given; `drop` removes claims."""
    key_id, key = StaffTokens.from_settings(
        PlatformSettings(environment="development"), api
    ).keys.current
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": api.value,
        "sub": "sec-staff",
        "dept": department,
        "roles": list(roles),
        "iat": now,
        "exp": now + lifetime,
        **overrides,
    }
    for name in drop:
        claims.pop(name)
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id})


async def status(system: System, api: StaffApi, token: str) -> int:
    service, path, _, _ = READS[api]
    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.get(
            f"{getattr(system, service)}{path}", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code


def well_formed(api: StaffApi, **changes: Any) -> str:
    _, _, department, roles = READS[api]
    return forged(api, **{"department": department, "roles": roles, **changes})


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_well_formed_token_is_accepted(system: System, api: StaffApi) -> None:
    """The control: the 401s below are for the claim under test, nothing else (tracking
    answers its 404 for a code it never recorded: past authentication)."""
    assert await status(system, api, well_formed(api)) in (200, 404)


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_token_without_audience_is_refused(system: System, api: StaffApi) -> None:
    assert await status(system, api, well_formed(api, drop=("aud",))) == 401


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_token_for_another_api_is_refused(system: System, api: StaffApi) -> None:
    other = next(a for a in StaffApi if a != api)
    assert await status(system, api, well_formed(api, aud=other.value)) == 401


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_token_valid_for_a_hundred_years_is_refused(system: System, api: StaffApi) -> None:
    century = well_formed(api, lifetime=timedelta(days=36500))
    assert await status(system, api, century) == 401


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_token_without_expiry_is_refused(system: System, api: StaffApi) -> None:
    assert await status(system, api, well_formed(api, drop=("exp",))) == 401


async def test_a_reviewer_of_an_unknown_department_is_refused(system: System) -> None:
    for api in (StaffApi.DEPARTMENT, StaffApi.TRACKING):
        token = forged(api, department="no-such-department", roles=("reviewer",))
        assert await status(system, api, token) == 401


@pytest.mark.parametrize("api", list(READS), ids=lambda api: api.name.lower())
async def test_a_token_under_a_key_the_api_does_not_hold_is_refused(
    system: System, api: StaffApi
) -> None:
    _, _, department, roles = READS[api]
    now = datetime.now(UTC)
    claims = {"iss": ISSUER, "aud": api.value, "sub": "x", "dept": department, "roles": roles}
    claims |= {"iat": now, "exp": now + timedelta(hours=1)}
    for kid, key in [("dev", "a" * 48), ("made-up", "b" * 48)]:
        token = jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})
        assert await status(system, api, token) == 401
