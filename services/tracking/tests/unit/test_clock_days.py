"""Actual days of a clock, hand-counted on the 2026 National Day holiday (1-7 October
off, Saturday 10 October a make-up working day)."""

from datetime import UTC, datetime, timedelta

import pytest

from onceonly.catalogue.calendar import WorkingCalendar, default_calendar
from onceonly.tracking.clock_days import actual_days, merged, pauses_of, task_clock

CST = timedelta(hours=8)


def cst(day: int, hour: int = 10, month: int = 10) -> datetime:
    """An instant on a China Standard Time date of 2026, in UTC."""
    return datetime(2026, month, day, hour, tzinfo=UTC) - CST


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return default_calendar()


def test_working_days_skip_the_holiday_and_count_the_make_up_day(calendar) -> None:
    # Started Wednesday 30 September; finished Monday 12 October: 8, 9, 10 (make-up)
    # and 12 October are working days, 1-7 and Sunday 11 are not.
    started, finished = cst(30, month=9), cst(12, hour=16)
    assert actual_days(started, finished, [], day_kind="working", calendar=calendar) == 4
    assert actual_days(started, finished, [], day_kind="natural", calendar=calendar) == 12


def test_the_start_day_never_counts_and_the_finish_day_does(calendar) -> None:
    assert actual_days(cst(8, 9), cst(8, 17), [], day_kind="working", calendar=calendar) == 0
    assert actual_days(cst(8, 23), cst(9, 1), [], day_kind="working", calendar=calendar) == 1
    # Dates are China Standard Time: 17:00 UTC on the 8th is already the 9th there.
    late = datetime(2026, 10, 8, 17, tzinfo=UTC)
    assert actual_days(cst(8, 9), late, [], day_kind="working", calendar=calendar) == 1


def test_pauses_are_left_out_in_the_clocks_own_days(calendar) -> None:
    # Started Monday 28 September, finished Tuesday 13 October: 29 and 30 September,
    # 8, 9, 10, 12 and 13 October, 7 working days.
    started, finished = cst(28, month=9), cst(13)
    assert actual_days(started, finished, [], day_kind="working", calendar=calendar) == 7
    # A supplement asked on 29 September and given on 9 October: the pause took the
    # working days 30 September, 8 and 9 October (the holiday is not counted twice).
    pause = (cst(29, month=9), cst(9))
    assert actual_days(started, finished, [pause], day_kind="working", calendar=calendar) == 4
    # In natural days: 15 days, less the pause's 10.
    assert actual_days(started, finished, [pause], day_kind="natural", calendar=calendar) == 5


def test_overlapping_pauses_count_once(calendar) -> None:
    a = (cst(8), cst(12))
    b = (cst(9), cst(13))
    assert merged([b, a]) == [(cst(8), cst(13))]
    started, finished = cst(30, month=9), cst(14)
    # 8, 9, 10, 12, 13, 14 October: 6 working days, of which the pause (8-13) took 4.
    assert actual_days(started, finished, [a, b], day_kind="working", calendar=calendar) == 2


def test_pauses_as_the_projection_keeps_them() -> None:
    intervals = [
        {"from": "2026-10-08T02:00:00+00:00", "to": "2026-10-09T02:00:00+00:00", "reason": "x"},
        {"from": "2026-10-12T02:00:00+00:00", "reason": "still open"},
    ]
    assert pauses_of(intervals) == [(cst(8), cst(9))]


def test_a_tasks_clock_as_of_now(calendar) -> None:
    task = {
        "started_at": cst(28, month=9).isoformat(),
        "committed_days": 5,
        "day_kind": "working",
        "paused_intervals": [{"from": cst(29, month=9).isoformat(), "to": cst(9).isoformat()}],
    }
    # Open on 13 October: 7 working days since the start, 3 of them paused: 4 used, 1 left.
    clock = task_clock(task, now=cst(13), calendar=calendar, finished=False)
    assert clock == {"elapsed_days": 4, "days_left": 1, "day_kind": "working"}
    # Waiting for a supplement since 12 October: the open pause stops the count there.
    waiting = {**task, "paused": True, "paused_since": cst(12).isoformat()}
    assert task_clock(waiting, now=cst(14), calendar=calendar, finished=False)["elapsed_days"] == 3
    # Decided on 8 October and looked at later: counted to the decision.
    decided = {**task, "paused_intervals": [], "decided_at": cst(8).isoformat()}
    clock = task_clock(decided, now=cst(20), calendar=calendar, finished=True)
    assert clock["elapsed_days"] == 3  # 29, 30 September and 8 October
    assert task_clock({}, now=cst(1), calendar=calendar, finished=False)["elapsed_days"] is None
