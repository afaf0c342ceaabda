"""The deadline activities move a clock's legal deadline (法定时限) as they move its
committed one: across a holiday week and its make-up working day (调休)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.catalogue.testing import holiday_calendar
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.shared import AddDaysRequest, ExtendRequest, RecomputeRequest

TODAY = date(2030, 9, 20)  # a Friday; the fictional holiday week starts ten days later
CALENDAR, HOLIDAYS, MAKEUP = holiday_calendar(TODAY)
ACTIVITIES = ApprovalActivities(
    producer=MemoryProducer(MemoryBroker()),
    topic_prefix="t",
    catalogue=default_catalogue(),
    calendar=CALENDAR,
)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME).astimezone(UTC)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), CHINA_STANDARD_TIME)


def working(day: date, days: int) -> date:
    return CALENDAR.add_working_days(day, days).due


async def test_a_pause_moves_the_legal_deadline_by_the_same_working_days() -> None:
    due, legal = working(TODAY, 10), working(TODAY, 15)
    # Over the holiday week and its make-up working day.
    paused, resumed = TODAY, MAKEUP + timedelta(days=1)
    request = ExtendRequest(
        end_of(due),
        end_of(working(TODAY, 8)),
        noon(paused),
        noon(resumed),
        "working",
        end_of(legal),
    )
    moved = await ACTIVITIES.extend_deadline(request)
    shift = CALENDAR.working_days_between(paused, resumed)
    assert shift >= 10  # two weeks and the make-up day, less the holiday week
    assert moved.due_at == end_of(working(due, shift))
    assert moved.legal_due_at == end_of(working(legal, shift))
    # Without a legal deadline (an older workflow's request), none comes back.
    request.legal_due_at = None
    assert (await ACTIVITIES.extend_deadline(request)).legal_due_at is None


async def test_an_extension_adds_its_days_to_the_legal_deadline_too() -> None:
    due, legal = working(TODAY, 10), working(TODAY, 15)
    request = AddDaysRequest(end_of(due), end_of(working(TODAY, 8)), 10, "working", end_of(legal))
    moved = await ACTIVITIES.add_days(request)
    assert moved.due_at == end_of(working(due, 10))
    assert moved.legal_due_at == end_of(working(legal, 10))


async def test_a_recomputed_clock_recomputes_its_legal_deadline_with_its_pauses() -> None:
    pause = [noon(working(TODAY, 2)), noon(working(TODAY, 5))]
    request = RecomputeRequest(noon(TODAY), 10, "working", [pause], legal_days=15)
    fresh = await ACTIVITIES.recompute_deadline(request)
    assert fresh.due_at == end_of(working(TODAY, 13))
    assert fresh.legal_due_at == end_of(working(TODAY, 18))
    request.legal_days = 0
    assert (await ACTIVITIES.recompute_deadline(request)).legal_due_at is None
