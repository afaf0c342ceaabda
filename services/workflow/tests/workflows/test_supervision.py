"""E-supervision (电子监察) on durable timers, on the time-skipping test server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.common import SearchAttributeKey

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, default_calendar
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.case_clocks import case_code
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    ContactInput,
    DecisionInput,
    DecisionResult,
    SupplementInput,
    TaskSnapshot,
    WithdrawalInput,
)

YELLOW = supervision_pb2.SUPERVISION_LEVEL_YELLOW
RED = supervision_pb2.SUPERVISION_LEVEL_RED
HOUSEHOLD = ["transfer-application", "resident-id", "housing-proof", "household-register"]
STARTUP = [
    "registration-form",
    "articles-of-association",
    "legal-rep-id",
    "premises-proof",
    "seal-specimen",
]
CONSTRUCTION = [
    "project-application",
    "land-use-certificate",
    "site-plan",
    "design-drawings",
    "fire-design",
    "contractor-contract",
]


async def start(harness, code: str, matter: str, materials: list[str]) -> WorkflowHandle:
    app = ApplicationInput(
        application_code=code,
        matter_code=matter,
        integrator_id="portal",
        applicant_kind="organisation",
        materials=materials,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-11-23T01:00:00+00:00",
    )
    handle = await harness.client.start_workflow(
        WORKFLOW_NAME, app, id=code, task_queue=harness.task_queue, result_type=ApplicationResult
    )
    await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.tasks,
        what="its tasks",
    )
    return handle


async def snapshot(handle: WorkflowHandle) -> ApplicationSnapshot:
    return await handle.query("snapshot", result_type=ApplicationSnapshot)


async def alerts_reaching(
    harness, count: int, department: str | None = None
) -> list[supervision_pb2.SupervisionAlert]:
    """The alerts once `count` have been published: a timer that fired during a sleep
    publishes through an activity that may finish just after the sleep returns."""
    return await eventually(
        lambda: asyncio.sleep(0, alerts(harness, department)),
        lambda found: len(found) >= count,
        within=10.0,
        interval=0.05,
        what=f"{count} alerts" + (f" of {department!r}" if department is not None else ""),
    )


def alerts(harness, department: str | None = None) -> list[supervision_pb2.SupervisionAlert]:
    found = harness.producer.messages("SupervisionAlert")
    return [a for a in found if department is None or a.department_code == department]


async def decide(handle: WorkflowHandle, department: str, outcome: str = "approved") -> None:
    await handle.execute_update(
        "decide",
        DecisionInput(
            department_code=department,
            outcome=outcome,
            staff_id="reviewer",
            staff_department=department,
            reason="",
        ),
        result_type=DecisionResult,
    )


async def close(handle: WorkflowHandle) -> None:
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()


async def test_yellow_then_red_then_a_supervision_case(
    harness, application_code, time_skipping_env, record_history
):
    handle = await start(harness, application_code, "household-transfer", HOUSEHOLD)
    task = (await snapshot(handle)).tasks[0]
    due = datetime.fromisoformat(task.due_at)

    # 10 natural days: the yellow warning comes with 80 % elapsed, before the deadline.
    await time_skipping_env.sleep(timedelta(days=9))
    police = await alerts_reaching(harness, 1, "public-security")
    assert [a.level for a in police] == [YELLOW]
    assert police[0].seconds_left > 0
    assert police[0].raised_at.ToDatetime() < due.replace(tzinfo=None)

    # Past the deadline: red, exactly at the deadline, opening a supervision case (督办件)
    # that carries the escalation: no reminder repeats a day later (SUPERVISION_CASES_PATCH).
    await time_skipping_env.sleep(due - await _now(time_skipping_env) + timedelta(hours=25))
    police = await alerts_reaching(harness, 2, "public-security")
    assert [(a.level, a.escalation) for a in police] == [(YELLOW, 0), (RED, 0)]
    red = police[1]
    assert abs(red.raised_at.ToDatetime() - due.replace(tzinfo=None)) <= timedelta(seconds=1)
    assert red.seconds_left <= 0
    assert red.case_code == case_code(application_code, "public-security", 1)
    assert police[0].case_code == ""  # a warning opens no case
    # The application's own clock is supervised too, its case named for it.
    own = await alerts_reaching(harness, 2, "")
    assert [(a.level, a.case_code) for a in own] == [
        (YELLOW, ""),
        (RED, case_code(application_code, "", 1)),
    ]

    described = await handle.describe()
    level = described.typed_search_attributes.get(
        SearchAttributeKey.for_keyword("SupervisionLevel")
    )
    assert level == "red"
    assert (await snapshot(handle)).tasks[0].supervision_level == "red"

    await decide(handle, "public-security")
    assert (await handle.result()).state == "completed"
    await record_history(handle, "supervised-red-escalated-then-completed")
    reminders = len(alerts(harness))
    await time_skipping_env.sleep(timedelta(days=3))
    assert len(alerts(harness)) == reminders  # nothing fires for a decided task


async def _now(env) -> datetime:
    return await env.get_current_time()


async def test_decided_tasks_raise_no_alert(harness, application_code, time_skipping_env):
    handle = await start(harness, application_code, "business-startup", STARTUP)
    await decide(handle, "market-regulation")
    # Long enough for a one-working-day limit even across the longest public holiday.
    await time_skipping_env.sleep(timedelta(days=15))
    await alerts_reaching(harness, 6)  # yellow and red of the three open tasks
    # The decided task never goes red; a one-day limit may have warned (yellow) in the
    # skipped time before the decision landed, never after it.
    decided_at = next(
        t.decided_at
        for t in (await snapshot(handle)).tasks
        if t.department_code == "market-regulation"
    )
    for alert in alerts(harness, "market-regulation"):
        assert alert.level == YELLOW
        assert alert.raised_at.ToDatetime() <= datetime.fromisoformat(decided_at).replace(
            tzinfo=None
        )
    assert {a.department_code for a in alerts(harness) if a.level == RED} >= {
        "public-security",
        "tax",
        "human-resources",
    }
    await close(handle)


async def test_supplement_pauses_the_clock_and_moves_its_deadline(
    harness, application_code, time_skipping_env, record_history
):
    handle = await start(harness, application_code, "construction-joint-approval", CONSTRUCTION)
    before = {t.department_code: t for t in (await snapshot(handle)).tasks}
    await decide(handle, "fire", "supplement_requested")
    paused = {t.department_code: t for t in (await snapshot(handle)).tasks}
    assert paused["fire"].paused is True

    # Three weeks pass while the applicant prepares the fire design: past fire's
    # original deadline, yet no alert for fire, while the others are supervised.
    await time_skipping_env.sleep(timedelta(days=21))
    await alerts_reaching(harness, 2, "civil-air-defence")
    assert alerts(harness, "fire") == []
    assert any(a.level == RED for a in alerts(harness, "civil-air-defence"))

    resumed_on = (await _now(time_skipping_env)).astimezone(CHINA_STANDARD_TIME).date()
    await handle.signal("supplement", SupplementInput(["fire-design-revised"]))
    fire = await eventually(
        lambda: _task(handle, "fire"),
        lambda fire: fire.due_at != before["fire"].due_at,
        what="the fire task's moved deadline",
    )
    assert fire.paused is False
    # The deadline moves by the working days the pause took, on the same calendar.
    calendar = default_calendar()
    old_due = datetime.fromisoformat(before["fire"].due_at).astimezone(CHINA_STANDARD_TIME).date()
    paused_on = (
        datetime.fromisoformat(paused["fire"].decided_at).astimezone(CHINA_STANDARD_TIME).date()
    )
    shift = calendar.working_days_between(paused_on, resumed_on)
    assert shift >= 10  # three weeks hold at least two weeks of working days
    expected = calendar.add_working_days(old_due, shift).due
    assert datetime.fromisoformat(fire.due_at).astimezone(CHINA_STANDARD_TIME).date() == expected
    assert alerts(harness, "fire") == []
    await close(handle)
    await record_history(handle, "supervised-paused-for-supplement")


async def _task(handle: WorkflowHandle, department: str) -> TaskSnapshot:
    return next(t for t in (await snapshot(handle)).tasks if t.department_code == department)
