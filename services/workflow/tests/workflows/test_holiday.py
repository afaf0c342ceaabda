"""A 25-working-day construction approval across a week-long public holiday, on the
time-skipping test server: the deadlines skip the holiday and count its make-up working
day, nothing is provisional, and the red alerts fire at those deadlines.

The test server's clock starts at today's date, and the official calendars only know
the years already announced, so the holiday week is a fictional notice placed relative
to today (ten days after acceptance, like a National Day week, with a make-up Saturday
or Sunday after it). What is tested is the workflow's arithmetic over such a week.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar, YearNotice
from onceonly.catalogue.model import DayKind
from onceonly.catalogue.testing import holiday_calendar
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationResult,
    ApplicationSnapshot,
    DecisionInput,
    DecisionResult,
)
from onceonly.workflow.worker import build_worker
from services.workflow.tests.workflows.construction import (
    construction_application,
    published_alerts,
)

RED = supervision_pb2.SUPERVISION_LEVEL_RED


def weekends_only(today: date) -> WorkingCalendar:
    calendar = WorkingCalendar(use_library=False)
    for year in (today.year, today.year + 1):
        calendar.load_notice(YearNotice(year, frozenset(), frozenset(), source="test: no holidays"))
    return calendar


async def snapshot(handle) -> ApplicationSnapshot:
    return await handle.query("snapshot", result_type=ApplicationSnapshot)


def local_date(instant: str) -> date:
    return datetime.fromisoformat(instant).astimezone(CHINA_STANDARD_TIME).date()


async def test_construction_approval_over_a_holiday_week(
    time_skipping_env, harness, make_activities
) -> None:
    now = await time_skipping_env.get_current_time()
    today = now.astimezone(CHINA_STANDARD_TIME).date()
    calendar, holidays, makeup = holiday_calendar(today)
    activities = make_activities(harness.producer, calendar)
    task_queue = f"holiday-{uuid.uuid4().hex[:8]}"
    app = construction_application(now)
    code = app.application_code
    async with build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities):
        handle = await time_skipping_env.client.start_workflow(
            WORKFLOW_NAME, app, id=code, task_queue=task_queue, result_type=ApplicationResult
        )
        snap = await eventually(
            lambda: snapshot(handle),
            lambda snap: len(snap.tasks) == 5,
            within=10.0,
            interval=0.05,
            what="the five tasks",
        )
        accepted_on = local_date(snap.accepted_at)

        # The application's 25 working days: final, and the holiday week's five weekdays
        # less its make-up day push the deadline four working days past the plain count.
        assert snap.provisional is False
        due = local_date(snap.due_at)
        assert due == calendar.deadline(accepted_on, 25, DayKind.WORKING).due
        plain_due = weekends_only(today).deadline(accepted_on, 25, DayKind.WORKING).due
        assert weekends_only(today).working_days_between(plain_due, due) == 4
        assert not holidays & {due}
        assert accepted_on < makeup < due

        # Each department's own limit is counted on the same calendar.
        limits = {t.department_code: t.committed_days for t in snap.tasks}
        for task in snap.tasks:
            assert not task.provisional
            expected = calendar.deadline(accepted_on, limits[task.department_code], DayKind.WORKING)
            assert local_date(task.due_at) == expected.due, task.department_code

        # The ten-day tasks (planning, fire) go red at their deadline, after the holiday;
        # the five-day ones are decided in time and raise no red alert.
        for department in ("development-reform", "civil-air-defence", "housing-construction"):
            await decide(handle, department)
        ten_day_due = datetime.fromisoformat(
            next(t.due_at for t in snap.tasks if t.department_code == "fire")
        )
        await time_skipping_env.sleep(
            ten_day_due - await time_skipping_env.get_current_time() + timedelta(hours=1)
        )
        red = await published_alerts(harness.producer, code, level=RED, count=2)
        assert sorted(a.department_code for a in red) == ["fire", "natural-resources"]
        for alert in red:
            assert abs(alert.raised_at.ToDatetime() - ten_day_due.replace(tzinfo=None)) <= (
                timedelta(seconds=1)
            )
            assert alert.raised_at.ToDatetime().date() > max(holidays)

        for department in ("fire", "natural-resources"):
            await decide(handle, department)
        result = await handle.result()
        assert result.state == "completed"


async def decide(handle, department: str) -> None:
    await handle.execute_update(
        "decide",
        DecisionInput(
            department_code=department,
            outcome="approved",
            staff_id="reviewer",
            staff_department=department,
            reason="",
        ),
        result_type=DecisionResult,
    )
