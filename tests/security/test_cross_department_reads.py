"""A curious insider: staff of a department that has no task in an application try to
read it, on the department (workflow) API and on the tracking API, against the real
processes. Every "not yours" is the same 404 as an unknown code: same status, same
bytes but for the code the request itself named."""

from __future__ import annotations

import httpx
import pytest

from onceonly.intake.application_code import format_application_code, parse_application_code
from onceonly.platform.auth import StaffApi

from .conftest import Submitted, System

TRACKING_READS = ["timeline", "timeline/verification", "status"]


def unknown_like(code: str) -> str:
    """A well-formed code of the same region and day that no application has."""
    parsed = parse_application_code(code)
    return format_application_code(parsed.region, parsed.day, 999_999)


async def get(url: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.get(url, headers=headers)


def same_answer(theirs: httpx.Response, unknown: httpx.Response, code: str, other: str) -> None:
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.headers["content-type"] == unknown.headers["content-type"]
    assert theirs.content.replace(code.encode(), other.encode()) == unknown.content


async def test_another_departments_reviewer_cannot_read_it_on_the_department_api(
    system: System, application: Submitted
) -> None:
    url = f"{system.workflow}/v1/applications/{{}}"
    own = system.staff(StaffApi.DEPARTMENT, "public-security", "reviewer")
    assert (await get(url.format(application.code), own)).status_code == 200  # it is there

    for department, role in [("tax", "reviewer"), ("market-regulation", "department_head")]:
        other = system.staff(StaffApi.DEPARTMENT, department, role)
        unknown = unknown_like(application.code)
        theirs = await get(url.format(application.code), other)
        same_answer(theirs, await get(url.format(unknown), other), application.code, unknown)


@pytest.mark.parametrize("read", TRACKING_READS)
async def test_another_departments_reviewer_cannot_read_it_on_the_tracking_api(
    system: System, application: Submitted, read: str
) -> None:
    url = f"{system.tracking}/v1/applications/{{}}/{read}"
    own = system.staff(StaffApi.TRACKING, "public-security", "reviewer")
    assert (await get(url.format(application.code), own)).status_code == 200  # it is there

    for department, role in [("tax", "reviewer"), ("health", "department_head")]:
        other = system.staff(StaffApi.TRACKING, department, role)
        unknown = unknown_like(application.code)
        theirs = await get(url.format(application.code), other)
        same_answer(theirs, await get(url.format(unknown), other), application.code, unknown)


async def test_a_department_that_does_not_exist_is_not_a_key_to_everything(
    system: System, application: Submitted
) -> None:
    """Issue 15 saw a token of a made-up department read any timeline. The token itself
    is refused (401): its department is not in the catalogue."""
    from .test_staff_tokens import forged

    for api, base in [
        (StaffApi.TRACKING, f"{system.tracking}/v1/applications/{application.code}/timeline"),
        (StaffApi.DEPARTMENT, f"{system.workflow}/v1/applications/{application.code}"),
    ]:
        token = forged(api, department="no-such-department")
        answer = await get(base, {"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text


@pytest.mark.parametrize(
    ("api", "path"),
    [
        (StaffApi.DEPARTMENT, "workflow"),
        *((StaffApi.TRACKING, f"tracking {r}") for r in TRACKING_READS),
    ],
)
async def test_staff_of_another_division_cannot_read_it(
    system: System, application: Submitted, api: StaffApi, path: str
) -> None:
    """行政区划: a county clerk asking for an application decided elsewhere gets the same
    404 as for an unknown one; the clerk of its own division reads it."""
    service, _, read = path.partition(" ")
    base = system.workflow if service == "workflow" else system.tracking
    url = f"{base}/v1/applications/{{}}" + (f"/{read}" if read else "")
    # Decided where the system's centre is (its region, not in the sample province).
    home = application.code[:6]
    own = system.staff(api, "public-security", "reviewer", region=home)
    assert (await get(url.format(application.code), own)).status_code == 200
    for region in ("330106", "330100", "330106001"):
        other = system.staff(api, "public-security", "reviewer", region=region)
        unknown = unknown_like(application.code)
        theirs = await get(url.format(application.code), other)
        same_answer(theirs, await get(url.format(unknown), other), application.code, unknown)


async def test_the_task_list_holds_only_the_staffs_division(
    system: System, application: Submitted
) -> None:
    """行政区划 on `GET /v1/tasks`: the same department's reviewer of another division does
    not see the task of an application decided elsewhere."""
    url = f"{system.workflow}/v1/tasks"

    async def listed(region: str) -> set[str]:
        staff = system.staff(StaffApi.DEPARTMENT, "public-security", "reviewer", region=region)
        answer = await get(url, staff)
        assert answer.status_code == 200, answer.text
        return {task["application_code"] for task in answer.json()}

    assert application.code in await listed(application.code[:6])
    assert application.code in await listed("")  # the whole province
    assert application.code not in await listed("330106")
