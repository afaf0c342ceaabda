"""The citizen progress lookup answers "when?": from the approval events the follower
folded into intake.approval_status (real Postgres), the expected date and its estimate
mark, the working days left, the departments still deciding by name, what is still to
provide and by when, and the last steps in plain words; nothing personal, no staff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.events.v1 import approval_pb2
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import new_envelope

from .test_progress_and_limits import personal_search_text, submit

pytestmark = pytest.mark.integration

# Past the published notices (chinesecalendar ships up to 2026): an estimate.
DUE = date(2027, 1, 5)
STAFF = "王警官"
REASON = "张三丰的户口簿照片不清晰"


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def clock(due: date, *, provisional: bool, paused: bool = False) -> approval_pb2.Clock:
    end = datetime(due.year, due.month, due.day, 23, 59, 59, tzinfo=CHINA_STANDARD_TIME)
    return approval_pb2.Clock(
        committed_days=10,
        day_kind="natural",
        started_at=ts(datetime.now(UTC)),
        due_at=ts(end),
        paused=paused,
        provisional=provisional,
    )


async def apply(pool: asyncpg.Pool, settings: IntakeSettings, code: str, *events: Message) -> None:
    """Each event through the follower's handler, as it arrives from Kafka."""
    follower = ApprovalFollower.from_settings(pool, settings)
    for offset, message in enumerate(events):
        at = datetime.now(UTC) + timedelta(seconds=offset)
        await follower.handle(
            new_envelope(message, source="/onceonly/workflow", application_code=code, time=at)
        )


async def test_the_lookup_answers_when_with_nothing_personal(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    code = await submit(client, integrator, person_application)
    supplement_due = datetime.now(UTC) + timedelta(days=20)
    await apply(
        pool,
        settings,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
            missing_materials=["household-register"],
            clock=clock(DUE, provisional=True),
        ),
        approval_pb2.TaskStarted(
            application_code=code,
            department_code="public-security",
            task_name="户口迁入审批",
            clock=clock(DUE, provisional=True),
        ),
        approval_pb2.TaskAssigned(
            application_code=code, department_code="public-security", assignee=STAFF
        ),
        approval_pb2.TaskDecided(
            application_code=code,
            department_code="public-security",
            outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            reason=REASON,
            missing_materials=["transfer-application"],
            supplement_due_at=ts(supplement_due),
            clock=clock(DUE, provisional=True, paused=True),
            actor=approval_pb2.Actor(kind="staff", id=STAFF, department_code="public-security"),
        ),
    )

    response = await client.get("/v1/progress", params={"code": code, "last4": "5678"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "accepted_with_deficiency"
    expected = body["expected_completion"]
    assert (expected["date"], expected["provisional"], expected["paused"]) == (
        DUE.isoformat(),
        True,
        True,
    )
    today = datetime.now(CHINA_STANDARD_TIME).date()
    assert 0 < expected["working_days_left"] < (DUE - today).days
    police = {"name_zh": "公安局", "name_en": "Public Security Bureau"}
    assert body["deciding"] == [{"department": police, "state": "waiting_for_applicant"}]
    assert body["to_provide"] == [
        {
            "department": None,
            "materials": [{"name_zh": "户口簿", "name_en": "Household register"}],
            "due_date": None,
        },
        {
            "department": police,
            "materials": [
                {"name_zh": "户口迁移申请表", "name_en": "Household transfer application form"}
            ],
            "due_date": supplement_due.astimezone(CHINA_STANDARD_TIME).date().isoformat(),
        },
    ]
    steps = body["last_steps"]
    assert [step["en"] for step in steps] == [
        "Public Security Bureau asked for more materials; its clock is paused",
        "Public Security Bureau started its review",
        "Accepted with items to follow; approval started (provide them before completion)",
        "Application submitted",
    ]
    assert steps[0]["zh"] == "公安局要求补正材料，该环节暂停计时"

    # Nothing personal, no staff, no free text of the department, no codes but its own.
    text = personal_search_text(body, code)
    for private in (
        "张三丰",
        "13812345678",
        "5678",
        "11010519491231002X",
        "1101",
        STAFF,
        REASON,
        "照片",
        "doc://",
        "public-security",
        integrator.id,
        integrator.key_id,
    ):
        assert private not in text, private


async def test_the_same_404_for_a_wrong_code_and_wrong_digits_of_a_followed_application(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    code = await submit(client, integrator, person_application)
    await apply(
        pool,
        settings,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED,
            clock=clock(DUE, provisional=True),
        ),
    )
    wrong_digits = await client.get("/v1/progress", params={"code": code, "last4": "1234"})
    wrong_token = await client.get(
        "/v1/progress", params={"code": code, "token": "q8ZpX1tR0m3nVb2cY5kLwA"}
    )
    wrong_code = await client.get(
        "/v1/progress", params={"code": "330100-20000101-0000010", "last4": "5678"}
    )
    assert wrong_digits.status_code == wrong_token.status_code == wrong_code.status_code == 404
    assert wrong_digits.content == wrong_token.content == wrong_code.content
    right = await client.get("/v1/progress", params={"code": code, "last4": "5678"})
    assert right.status_code == 200
    assert right.json()["expected_completion"]["date"] == DUE.isoformat()


async def test_the_page_is_served_with_a_strict_csp_and_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get(
        "/progress/330100-20250303-0004276", headers={"Accept-Language": "en-GB,en;q=0.9"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-lang="en"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    # Whatever the path says, the page never echoes it (its script reads the path).
    odd = await client.get("/progress/%3Cscript%3Ealert(1)", params={"lang": "zh"})
    assert odd.status_code == 200 and "alert(1)" not in odd.text and 'data-lang="zh"' in odd.text
    assert (await client.get("/progress/" + "9" * 41)).status_code == 422
    schema = (await client.get("/openapi.json")).json()
    assert not any(path.startswith("/progress") for path in schema["paths"])
