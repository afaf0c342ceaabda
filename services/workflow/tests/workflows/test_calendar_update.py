"""A deadline computed past the known calendar is provisional, and is recomputed when
the year's official notice is loaded and the workflow is told (calendar_updated)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar, YearNotice
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    CalendarUpdate,
    ContactInput,
    WithdrawalInput,
)
from onceonly.workflow.worker import build_worker


def fictional_notice(year: int) -> YearNotice:
    """Clearly not an official schedule: ten days off from the 2nd of each month."""
    holidays = frozenset(date(year, month, day) for month in range(1, 13) for day in range(2, 12))
    return YearNotice(year=year, holidays=holidays, makeup_workdays=frozenset(), source="test")


async def snapshot(handle) -> ApplicationSnapshot:
    return await handle.query("snapshot", result_type=ApplicationSnapshot)


async def test_provisional_deadlines_become_final_when_the_notice_arrives(
    time_skipping_env, harness, make_activities
):
    # A calendar that knows no year yet: every deadline is provisional (estimated).
    calendar = WorkingCalendar(use_library=False)
    activities = make_activities(harness.producer, calendar)
    task_queue = f"calendar-{uuid.uuid4().hex[:8]}"
    code = f"330100-20261123-{uuid.uuid4().int % 10**6:06d}C"
    app = ApplicationInput(
        application_code=code,
        matter_code="business-startup",
        integrator_id="portal",
        applicant_kind="organisation",
        materials=[
            "registration-form",
            "articles-of-association",
            "legal-rep-id",
            "premises-proof",
            "seal-specimen",
        ],
        contact=ContactInput(),
        submitted_at="2026-11-23T01:00:00+00:00",
    )
    async with build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities):
        handle = await time_skipping_env.client.start_workflow(
            WORKFLOW_NAME, app, id=code, task_queue=task_queue, result_type=ApplicationResult
        )
        before = await eventually(
            lambda: snapshot(handle),
            lambda snap: snap.tasks,
            within=10.0,
            interval=0.05,
            what="the tasks",
        )
        assert before.provisional is True
        assert all(task.provisional for task in before.tasks)

        accepted_on = (
            datetime.fromisoformat(before.accepted_at).astimezone(CHINA_STANDARD_TIME).date()
        )
        for year in (accepted_on.year, accepted_on.year + 1):
            calendar.load_notice(fictional_notice(year))
        await handle.signal("calendar_updated", CalendarUpdate("notice loaded"))

        after = await eventually(
            lambda: snapshot(handle),
            lambda snap: not snap.provisional and not any(t.provisional for t in snap.tasks),
            within=10.0,
            interval=0.05,
            what="final deadlines after the notice",
        )
        assert after.provisional is False
        expected = calendar.deadline(accepted_on, 3, app_day_kind()).due
        assert (
            datetime.fromisoformat(after.due_at).astimezone(CHINA_STANDARD_TIME).date() == expected
        )
        await handle.signal("withdraw", WithdrawalInput("test over"))
        await handle.result()


def app_day_kind():
    return default_catalogue().matter("business-startup").day_kind
