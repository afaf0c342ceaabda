"""Days left on a task's clock, as the department task list shows them."""

from datetime import UTC, datetime

from onceonly.catalogue.calendar import default_calendar
from onceonly.catalogue.model import DayKind
from onceonly.workflow.clocks import days_left

CALENDAR = default_calendar()
# Due on Friday 9 October 2026 (CST): after the National Day week, before the
# make-up Saturday of 10 October.
DUE = "2026-10-09T15:59:59+00:00"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_working_days_skip_the_holiday_week() -> None:
    # Monday 28 September: 29, 30 Sep and 8, 9 Oct are working days; 1-7 Oct are not.
    assert days_left(CALENDAR, DayKind.WORKING, DUE, at("2026-09-28T09:00:00+08:00")) == 4


def test_natural_days_count_every_day() -> None:
    assert days_left(CALENDAR, DayKind.NATURAL, DUE, at("2026-09-28T09:00:00+08:00")) == 11


def test_due_day_is_zero_and_overdue_is_negative() -> None:
    assert days_left(CALENDAR, DayKind.WORKING, DUE, at("2026-10-09T23:00:00+08:00")) == 0
    # Saturday 10 October is a make-up working day, Monday 12 the next one.
    assert days_left(CALENDAR, DayKind.WORKING, DUE, at("2026-10-12T09:00:00+08:00")) == -2
    assert days_left(CALENDAR, DayKind.NATURAL, DUE, at("2026-10-12T09:00:00+08:00")) == -3


def test_the_local_date_decides_not_utc() -> None:
    # 16:30 UTC on 9 October is already 10 October in China: one working day overdue.
    assert days_left(CALENDAR, DayKind.WORKING, DUE, at("2026-10-09T16:30:00+00:00")) == -1


def test_no_deadline() -> None:
    assert days_left(CALENDAR, DayKind.WORKING, "", at("2026-10-01T00:00:00+00:00")) is None
