"""Every staff API refuses an oversized body (413) before authentication, and limits
reads per staff member (429 with Retry-After), as built by its own `create_app` and
settings. The middleware answers before any route, pool or Temporal client is needed."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from onceonly.notify.api import create_app as notify_app
from onceonly.notify.settings import NotifySettings
from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.tracking.api import create_app as tracking_app
from onceonly.tracking.settings import TrackingSettings
from onceonly.workflow.api import create_app as department_app
from onceonly.workflow.settings import WorkflowSettings

CODE = "330100-20261123-000001X"
HUNDRED_MB = str(100 * 1024 * 1024)


def department(settings: WorkflowSettings | None = None) -> FastAPI:
    return department_app(settings or WorkflowSettings(environment="development"))


def tracking(settings: TrackingSettings | None = None) -> FastAPI:
    return tracking_app(settings or TrackingSettings(environment="development"))


def notify(settings: NotifySettings | None = None) -> FastAPI:
    return notify_app(settings or NotifySettings(environment="development"))


POSTS = {
    "department": (department, f"/v1/applications/{CODE}/tasks/tax/decision"),
    "tracking": (tracking, f"/v1/applications/{CODE}/timeline"),
    "notify": (notify, "/v1/integrator/webhooks"),
}


class Streamed(httpx.AsyncByteStream):
    """A body that counts how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = 0

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        while self.read < self.size:
            self.read += 65536
            yield b" " * 65536


@pytest.mark.parametrize("api", sorted(POSTS))
async def test_a_100_mb_unauthenticated_post_is_413_unread(api: str) -> None:
    make, path = POSTS[api]
    body = Streamed(100 * 1024 * 1024)
    transport = httpx.ASGITransport(app=make())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        small = await http.post(path, json={"outcome": "approved"})
        large = await http.post(
            path,
            content=body,
            headers={"content-type": "application/json", "content-length": HUNDRED_MB},
        )
    assert small.status_code in (401, 405)  # the limit is not what refuses a small body
    assert large.status_code == 413
    assert large.headers["content-type"] == "application/problem+json"
    assert large.json()["type"].endswith("payload-too-large")
    assert body.read <= 65536, body.read  # refused by its Content-Length, not read


# A GET each API refuses (403) for the token's role, after the read bucket: the route,
# its pool and Temporal are never reached, so the bucket is all that is measured.
GETS = {
    "department": (department, "/v1/tasks", StaffApi.DEPARTMENT, WorkflowSettings, "operations"),
    "tracking": (
        tracking,
        "/v1/supervision/figures",
        StaffApi.TRACKING,
        TrackingSettings,
        "reviewer",
    ),
    "notify": (notify, "/v1/notifications", StaffApi.NOTIFY, NotifySettings, "reviewer"),
}


@pytest.mark.parametrize("api", sorted(GETS))
async def test_reads_are_limited_per_staff_member(api: str) -> None:
    make, path, audience, settings_class, role = GETS[api]
    # A bucket that does not refill while the test runs, however slow the machine.
    rate = {f"{PREFIX[api]}_staff_read_rate_per_second": 0.001}
    settings = settings_class(environment="development", **rate)
    tokens = StaffTokens.from_settings(settings, audience)

    def bearer(staff: str) -> dict[str, str]:
        token = tokens.issue(staff_id=staff, department_code="public-security", roles=(role,))
        return {"authorization": f"Bearer {token}"}

    burst = getattr(settings, f"{PREFIX[api]}_staff_read_burst")
    transport = httpx.ASGITransport(app=make(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        allowed = [(await http.get(path, headers=bearer("s-1"))).status_code for _ in range(burst)]
        refused = await http.get(path, headers=bearer("s-1"))
        other = await http.get(path, headers=bearer("s-2"))
    assert set(allowed) == {403}
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert other.status_code == 403


PREFIX = {"department": "workflow_api", "tracking": "tracking", "notify": "notify"}
