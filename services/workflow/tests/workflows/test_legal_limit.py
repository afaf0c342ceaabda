"""The legal limit (法定时限) and the special procedures' maximum length under
e-supervision, on the time-skipping server: a construction joint approval (committed 25,
legal 30 working days; fire committed 10, legal 15) across the fictional holiday week of
test_holiday."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest_asyncio
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar
from onceonly.catalogue.testing import CONSTRUCTION_MATERIALS as CONSTRUCTION
from onceonly.catalogue.testing import holiday_calendar
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    ApplicationInput,
    ContactInput,
    DecisionInput,
    ExtensionDecisionInput,
    ExtensionRequestInput,
    SpecialProcedureInput,
    SupplementInput,
    TaskSnapshot,
    WithdrawalInput,
)
from onceonly.workflow.worker import build_worker
from onceonly.workflow.workflows import JointApproval

RED = supervision_pb2.SUPERVISION_LEVEL_RED
LEGAL = supervision_pb2.SUPERVISION_LEVEL_LEGAL


@dataclass
class Run:
    env: WorkflowEnvironment
    handle: WorkflowHandle
    calendar: WorkingCalendar
    producer: object
    code: str
    accepted_on: date

    async def task(self, department: str) -> TaskSnapshot:
        snap = await self.handle.query(JointApproval.snapshot)
        return next(t for t in snap.tasks if t.department_code == department)

    async def sleep_until(self, instant: datetime) -> None:
        await self.env.sleep(instant - await self.env.get_current_time())

    def events(self, name: str) -> list:
        return [m for m in self.producer.messages(name) if m.application_code == self.code]

    async def alerts(self, department: str, level: int) -> list[supervision_pb2.SupervisionAlert]:
        await asyncio.sleep(0.3)  # the alert's activity may finish just after the sleep
        return [
            a
            for a in self.events("SupervisionAlert")
            if a.department_code == department and a.level == level and a.escalation == 0
        ]

    def end_of(self, day: date) -> datetime:
        """Limits end with their last day, China Standard Time (as the activities say)."""
        return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME).astimezone(UTC)


def staff(department: str, *roles: str) -> dict:
    return {
        "staff_id": f"{department}-1",
        "staff_department": department,
        "staff_roles": list(roles),
    }


def raised(alert) -> datetime:
    return alert.raised_at.ToDatetime().replace(tzinfo=UTC)


@pytest_asyncio.fixture
async def run(time_skipping_env, harness, make_activities) -> AsyncIterator[Run]:
    now = await time_skipping_env.get_current_time()
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    calendar, _, _ = holiday_calendar(today)
    task_queue = f"legal-{uuid.uuid4().hex[:8]}"
    code = f"330100-{today:%Y%m%d}-{uuid.uuid4().int % 10**6:06d}F"
    app = ApplicationInput(
        application_code=code,
        matter_code="construction-joint-approval",
        integrator_id="portal",
        applicant_kind="organisation",
        materials=CONSTRUCTION,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at=now.isoformat(),
    )
    activities = make_activities(harness.producer, calendar)
    async with build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities):
        handle = await time_skipping_env.client.start_workflow(
            JointApproval.run, app, id=code, task_queue=task_queue
        )
        snap = await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda snap: len(snap.tasks) == 5,
            within=10.0,
            what="the tasks",
        )
        accepted = datetime.fromisoformat(snap.accepted_at).astimezone(CHINA_STANDARD_TIME)
        yield Run(time_skipping_env, handle, calendar, harness.producer, code, accepted.date())
        if not (await handle.describe()).close_time:
            await handle.signal(JointApproval.withdraw, WithdrawalInput("test over"))
            await handle.result()


async def test_the_legal_alert_comes_exactly_at_the_legal_deadline(run: Run, record_history):
    fire = await run.task("fire")
    committed = run.end_of(run.calendar.add_working_days(run.accepted_on, 10).due)
    legal = run.end_of(run.calendar.add_working_days(run.accepted_on, 15).due)
    assert datetime.fromisoformat(fire.due_at) == committed

    # Between the committed and the legal deadline: red (and its reminders), no legal.
    await run.sleep_until(legal - timedelta(hours=1))
    (red,) = await run.alerts("fire", RED)
    assert abs(raised(red) - committed) <= timedelta(seconds=1)
    assert red.legal_due_at.ToDatetime().replace(tzinfo=UTC) == legal
    assert await run.alerts("fire", LEGAL) == []

    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)
    assert alert.seconds_left < 0  # still measured against the committed deadline
    assert (await run.task("fire")).supervision_level == "legal"
    # Every clock has its own legal limit: development-reform's 7 days passed long ago.
    (reform,) = await run.alerts("development-reform", LEGAL)
    expected = run.end_of(run.calendar.add_working_days(run.accepted_on, 7).due)
    assert abs(raised(reform) - expected) <= timedelta(seconds=1)
    await run.handle.signal(JointApproval.withdraw, WithdrawalInput("test over"))
    await run.handle.result()
    await record_history(run.handle, "legal-limit-alerted")


async def test_an_approved_extension_moves_the_legal_deadline(run: Run) -> None:
    await run.handle.execute_update(
        JointApproval.request_extension,
        ExtensionRequestInput("fire", 10, "需专家论证 / expert review needed", **staff("fire")),
    )
    await run.handle.execute_update(
        JointApproval.decide_extension,
        ExtensionDecisionInput("fire", True, **staff("fire", "department_head")),
    )
    old_legal_day = run.calendar.add_working_days(run.accepted_on, 15).due
    legal = run.end_of(run.calendar.add_working_days(old_legal_day, 10).due)

    await run.sleep_until(run.end_of(old_legal_day) + timedelta(hours=1))
    assert await run.alerts("fire", LEGAL) == []
    # Civil air defence was not extended: its own legal limit (10) alerted on time.
    assert len(await run.alerts("civil-air-defence", LEGAL)) == 1

    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)


async def test_a_supplement_pause_moves_the_legal_deadline_by_its_working_days(run: Run):
    fire = await run.task("fire")
    legal_day = run.calendar.add_working_days(run.accepted_on, 15).due
    # Fire asks for a supplement on its 2nd working day; it arrives 5 working days later.
    asked_on = run.calendar.add_working_days(run.accepted_on, 2).due
    await run.sleep_until(noon(asked_on))
    await run.handle.execute_update(
        JointApproval.decide,
        DecisionInput(
            "fire", "supplement_requested", "fire-1", "fire", missing_materials=["fire-design"]
        ),
    )
    resumed_on = run.calendar.add_working_days(asked_on, 5).due
    await run.sleep_until(noon(resumed_on))
    await run.handle.signal(JointApproval.supplement, SupplementInput(["fire-design"]))
    await eventually(
        lambda: run.task("fire"), lambda t: t.due_at != fire.due_at, what="the moved deadline"
    )
    shift = run.calendar.working_days_between(asked_on, resumed_on)
    legal = run.end_of(run.calendar.add_working_days(legal_day, shift).due)

    await run.sleep_until(run.end_of(legal_day) + timedelta(hours=1))
    assert await run.alerts("fire", LEGAL) == []
    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CHINA_STANDARD_TIME)


async def test_a_special_procedure_past_its_maximum_alerts_once(run: Run) -> None:
    # The construction matter allows an on-site inspection 5 working days, an expert
    # review 15 (matters.yaml).
    inspection = SpecialProcedureInput("fire", kind="on_site_inspection", **staff("fire"))
    review = SpecialProcedureInput(
        "housing-construction", kind="expert_review", **staff("housing-construction")
    )
    await run.handle.execute_update(JointApproval.start_special_procedure, inspection)
    await run.handle.execute_update(JointApproval.start_special_procedure, review)
    started_on = run.accepted_on  # both start on the day of acceptance
    inspection_due = run.end_of(run.calendar.add_working_days(started_on, 5).due)

    # The expert review ends in time (on its third working day): it never alerts.
    await run.sleep_until(run.end_of(run.calendar.add_working_days(started_on, 3).due))
    await run.handle.execute_update(JointApproval.end_special_procedure, review)

    await run.sleep_until(inspection_due + timedelta(hours=1))
    overruns = await eventually(
        lambda: asyncio.sleep(0, run.events("SpecialProcedureOverrun")),
        lambda found: len(found) >= 1,
        within=10.0,
        what="the inspection's overrun",
    )
    (overrun,) = overruns
    assert (overrun.department_code, overrun.kind, overrun.max_days) == (
        "fire",
        "on_site_inspection",
        5,
    )
    assert overrun.due_at.ToDatetime().replace(tzinfo=UTC) == inspection_due
    assert abs(raised(overrun) - inspection_due) <= timedelta(seconds=1)
    assert (await run.task("fire")).paused is True  # the clock still stands still

    # Long after both maxima: still the one alert, none for the review that ended.
    await run.sleep_until(run.end_of(run.calendar.add_working_days(started_on, 25).due))
    await asyncio.sleep(0.3)
    assert [o.department_code for o in run.events("SpecialProcedureOverrun")] == ["fire"]
    await run.handle.execute_update(JointApproval.end_special_procedure, inspection)
