"""A construction joint approval across the fictional holiday week of test_holiday, run
on the time-skipping server: the `Run` that test_lead_and_extensions and test_legal_limit
drive (their `run` fixture is `construction_run` in this folder's conftest), and the
small helpers of those tests (staff identities, local dates, noon and end of a day)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar
from onceonly.catalogue.testing import CONSTRUCTION_MATERIALS, holiday_calendar
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    ApplicationInput,
    ApplicationSnapshot,
    ContactInput,
    TaskSnapshot,
    WithdrawalInput,
)
from onceonly.workflow.worker import build_worker
from onceonly.workflow.workflows import JointApproval


@dataclass
class Run:
    env: WorkflowEnvironment
    handle: WorkflowHandle
    calendar: WorkingCalendar
    producer: Any  # the harness's recording producer
    code: str
    accepted_on: date

    async def snapshot(self) -> ApplicationSnapshot:
        return await self.handle.query(JointApproval.snapshot)

    async def task(self, department: str) -> TaskSnapshot:
        snap = await self.snapshot()
        return next(t for t in snap.tasks if t.department_code == department)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep_until(self, instant: datetime) -> None:
        await self.env.sleep(instant - await self.now())

    def events(self, name: str) -> list:
        return [m for m in self.producer.messages(name) if m.application_code == self.code]

    async def alerts(
        self, department: str, level: int, count: int
    ) -> list[supervision_pb2.SupervisionAlert]:
        """The department's first (not escalated) alerts of `level`, once `count` have been
        published."""
        return await published_alerts(
            self.producer, self.code, level=level, count=count, department=department
        )

    def end_of(self, day: date) -> datetime:
        """Limits end with their last day, China Standard Time (as the activities say)."""
        return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME).astimezone(UTC)


async def published_alerts(
    producer: Any, code: str, *, level: int, count: int, department: str | None = None
) -> list[supervision_pb2.SupervisionAlert]:
    """The application's first (not escalated) alerts of `level` (of one department, or
    all), once `count` have been published: the alert's activity may finish just after
    the time-skipping sleep returns."""

    async def published() -> list[supervision_pb2.SupervisionAlert]:
        return [
            a
            for a in producer.messages("SupervisionAlert")
            if a.application_code == code
            and a.level == level
            and a.escalation == 0
            and department in (None, a.department_code)
        ]

    return await eventually(
        published,
        lambda found: len(found) >= count,
        within=10.0,
        interval=0.05,
        what=f"{count} alerts of level {level} for {department or 'any department'}",
    )


@asynccontextmanager
async def construction_run(
    env: WorkflowEnvironment, producer: Any, activities: Any, *, calendar: WorkingCalendar
) -> AsyncIterator[Run]:
    """A running construction joint approval with its five tasks open; withdrawn after."""
    app = construction_application(await env.get_current_time())
    code = app.application_code
    task_queue = f"construction-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, task_queue=task_queue, activities=activities):
        handle = await env.client.start_workflow(
            JointApproval.run, app, id=code, task_queue=task_queue
        )
        snap = await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda snap: len(snap.tasks) == 5,
            within=10.0,
            what="the tasks",
        )
        accepted = datetime.fromisoformat(snap.accepted_at).astimezone(CHINA_STANDARD_TIME)
        yield Run(env, handle, calendar, producer, code, accepted.date())
        if not (await handle.describe()).close_time:
            await handle.signal(JointApproval.withdraw, WithdrawalInput("test over"))
            await handle.result()


def construction_application(now: datetime) -> ApplicationInput:
    """A complete construction joint approval submitted `now`, under a fresh code."""
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    return ApplicationInput(
        application_code=f"330100-{today:%Y%m%d}-{uuid.uuid4().int % 10**6:06d}C",
        matter_code="construction-joint-approval",
        integrator_id="portal",
        applicant_kind="organisation",
        materials=CONSTRUCTION_MATERIALS,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at=now.isoformat(),
    )


def holiday_week_calendar(today: date) -> WorkingCalendar:
    calendar, _, _ = holiday_calendar(today)
    return calendar


def staff(department: str, *roles: str, name: str = "") -> dict:
    return {
        "staff_id": name or f"{department}-1",
        "staff_department": department,
        "staff_roles": list(roles),
    }


def local(instant: str | datetime) -> date:
    """The date in China of an instant (ISO string or datetime)."""
    value = datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return value.astimezone(CHINA_STANDARD_TIME).date()


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CHINA_STANDARD_TIME)
