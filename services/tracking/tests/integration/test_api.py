"""The tracking API against the real test database."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import approval_pb2
from onceonly.platform.auth import DEPARTMENT_ROLES, StaffApi, issue_staff_token
from onceonly.platform.heartbeat import beat
from onceonly.platform.secrets import KeyRing
from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.api import create_app
from onceonly.tracking.processing import AGENT_COMPONENT
from onceonly.tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"


@asynccontextmanager
async def tracking_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = TrackingSettings(
        environment="development", database_url=database_url, tracking_api_token_keys=KEYS
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
            yield client


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with tracking_client(database_url) as client:
        yield client


def bearer(*roles: str, department: str | None = None) -> dict[str, str]:
    """A tracking token; reviewers and heads of public security unless `department`."""
    if department is None:
        department = "public-security" if set(roles) & set(DEPARTMENT_ROLES) else "supervision"
    token = issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id="s-1",
        department_code=department,
        roles=roles,
    )
    return {"Authorization": f"Bearer {token}"}


async def recorded(store, events) -> tuple[str, list]:
    code = events.code()
    envelopes = [
        events.envelope(message, code, minutes=i)
        for i, message in enumerate(
            [events.submitted(code), events.accepted(code), events.task_started(code)]
        )
    ]
    for offset, envelope in enumerate(envelopes):
        await store.append(envelope, topic="t", partition=0, offset=offset)
    return code, envelopes


async def test_timeline_in_order_with_masked_summaries(client, store, events) -> None:
    code, envelopes = await recorded(store, events)
    response = await client.get(f"/v1/applications/{code}/timeline", headers=bearer("supervision"))
    assert response.status_code == 200
    body = response.json()
    assert body["application_code"] == code
    entries = body["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert [e["event_id"] for e in entries] == [env.id for env in envelopes]
    assert entries[0]["type"] == "onceonly.events.v1.ApplicationSubmitted"
    assert entries[0]["source"] == "/onceonly/test"
    assert entries[0]["time"].startswith("2025-03-03T09:00:00")
    assert entries[0]["summary"]["applicant"]["identifier"] == "4301**************"
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert "13812345678" not in response.text


async def test_verification_and_status(client, store, events) -> None:
    code, _ = await recorded(store, events)
    headers = bearer("operations")
    verification = await client.get(
        f"/v1/applications/{code}/timeline/verification", headers=headers
    )
    body = verification.json()
    assert {k: body[k] for k in ("application_code", "intact", "entries")} == {
        "application_code": code,
        "intact": True,
        "entries": 3,
    }
    assert (body["first_broken_seq"], body["reason"]) == (None, None)
    # Recorded just now: no signed checkpoint covers it yet (test_checkpoints for more).
    assert (body["anchored"], body["anchor"]) == (False, "not_covered")
    status = await client.get(f"/v1/applications/{code}/status", headers=headers)
    assert status.status_code == 200
    assert status.json()["status"] == "accepted"
    task = status.json()["tasks"]["public-security"]
    assert task["state"] == "started"
    # Its clock as of now: 10 natural days committed, started 3 March 2025 (China
    # Standard Time), so the days used are the dates since; long overdue.
    assert task["day_kind"] == "natural"
    today = datetime.now(timezone(timedelta(hours=8))).date()
    assert task["elapsed_days"] in ((today - date(2025, 3, 3)).days + d for d in (-1, 0))
    assert task["days_left"] == 10 - task["elapsed_days"]
    assert status.json()["supervision_level"] == "none"
    assert status.json()["paused"] is False


@pytest.mark.parametrize("path", ["timeline", "timeline/verification", "status"])
async def test_unknown_application_is_a_404_problem(client, events, path) -> None:
    response = await client.get(
        f"/v1/applications/{events.code()}/{path}", headers=bearer("reviewer")
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "Application not found"


async def test_staff_token_required(client, store, events) -> None:
    code, _ = await recorded(store, events)
    url = f"/v1/applications/{code}/timeline"
    assert (await client.get(url)).status_code == 401
    forged = issue_staff_token(
        KeyRing.parse("test-1:another-secret-that-is-32-bytes-long", setting="forged"),
        api=StaffApi.TRACKING,
        staff_id="x",
        department_code="public-security",
    )
    response = await client.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    # A department that does not exist reads nothing, not even a 404 (issue 15, item 2).
    for role in ("reviewer", "department_head"):
        headers = bearer(role, department="no-such-department")
        assert (await client.get(url, headers=headers)).status_code == 401
    for role in ("supervision", "operations"):
        assert (await client.get(url, headers=bearer(role))).status_code == 200
    for role in ("reviewer", "department_head"):  # of the department with the task
        headers = bearer(role, department="public-security")
        assert (await client.get(url, headers=headers)).status_code == 200


@pytest.mark.parametrize("path", ["timeline", "timeline/verification", "status"])
@pytest.mark.parametrize("role", ["reviewer", "department_head"])
async def test_a_department_sees_only_applications_it_has_a_task_in(
    client, store, events, path, role
) -> None:
    code, _ = await recorded(store, events)  # a public-security task
    url = f"/v1/applications/{code}/{path}"
    mine = await client.get(url, headers=bearer(role, department="public-security"))
    assert mine.status_code == 200
    never = events.code()
    unknown = await client.get(
        f"/v1/applications/{never}/{path}", headers=bearer(role, department="tax")
    )

    # Another department's: told exactly what an unknown application is told, so that
    # the register cannot be walked.
    def shape(answer: httpx.Response, of: str) -> dict[str, object]:
        body = answer.json()
        return {key: value for key, value in body.items() if key != "instance"} | {
            "detail": body["detail"].replace(of, "CODE")
        }

    theirs = await client.get(url, headers=bearer(role, department="tax"))
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert shape(theirs, code) == shape(unknown, never)
    # A department that does not exist: its token is refused before any application is
    # looked at, the same 401 whether the application exists or not.
    nowhere = bearer(role, department="no-such-department")
    existing = await client.get(url, headers=nowhere)
    missing = await client.get(f"/v1/applications/{never}/{path}", headers=nowhere)
    assert (existing.status_code, missing.status_code) == (401, 401)
    assert shape(existing, code) == shape(missing, never)


async def test_a_department_that_had_a_task_still_sees_the_application(
    client, store, events
) -> None:
    """Has or had: a removed department (减签) keeps reading what it took part in, an
    added one (加签) reads from joining; a department never in it does not, and the
    supervision office reads it all."""
    code = events.code()
    messages = [
        events.submitted(code),
        events.accepted(code),
        events.task_started(code),
        events.task_started(code, department="tax"),
        approval_pb2.DepartmentRemoved(
            application_code=code, department_code="tax", reason="无需税务"
        ),
        approval_pb2.DepartmentAdded(
            application_code=code, department_code="health", task_name="加签", reason="r"
        ),
    ]
    for offset, message in enumerate(messages):
        envelope = events.envelope(message, code, minutes=offset)
        await store.append(envelope, topic="t", partition=0, offset=offset)
    for path in ("timeline", "timeline/verification", "status"):
        url = f"/v1/applications/{code}/{path}"
        for department in ("public-security", "tax", "health"):
            answer = await client.get(url, headers=bearer("reviewer", department=department))
            assert answer.status_code == 200, (path, department)
        outsider = await client.get(url, headers=bearer("department_head", department="fire"))
        assert outsider.status_code == 404
        for role in ("supervision", "operations"):
            assert (await client.get(url, headers=bearer(role))).status_code == 200
    status = await client.get(f"/v1/applications/{code}/status", headers=bearer("supervision"))
    assert status.json()["tasks"]["tax"]["state"] == "cancelled"


async def test_malformed_code_is_a_422_problem(client) -> None:
    response = await client.get("/v1/applications/%20bad%20/status", headers=bearer("operations"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "code"


async def test_health_reports_the_agent_heartbeat(database_url: str) -> None:
    # The agent's heartbeat row is one per database: this test has a database of its own.
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=2) as pool,
        tracking_client(dsn) as client,
    ):
        await _health_follows_the_heartbeat(client, pool)


async def _health_follows_the_heartbeat(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["problems"] == {AGENT_COMPONENT: "no heartbeat yet"}
    # Timelines are still served from Postgres: the API stays ready.
    assert (await client.get("/ready")).status_code == 200
    await beat(pool, AGENT_COMPONENT)
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    await pool.execute(
        "UPDATE platform.instance_heartbeats SET beat_at = now() - interval '1 hour'"
        " WHERE component = $1",
        AGENT_COMPONENT,
    )
    response = await client.get("/health")
    assert response.status_code == 503
    assert "last heartbeat" in response.json()["problems"][AGENT_COMPONENT]
