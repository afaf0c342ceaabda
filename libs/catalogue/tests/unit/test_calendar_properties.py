"""Properties of counting on the calendar, over every year chinesecalendar knows and a
little beyond (where counting is provisional)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from onceonly.catalogue import DayKind
from onceonly.catalogue.calendar import WorkingCalendar, default_calendar

CALENDAR = default_calendar()  # module level: hypothesis does not mix with fixtures
KNOWN_UNTIL = CALENDAR.known_until()
assert KNOWN_UNTIL is not None

known_dates = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 12, 31))
# Up to two years past the last known day, to cross into provisional counting.
any_dates = st.dates(min_value=date(2004, 1, 1), max_value=KNOWN_UNTIL + timedelta(days=730))
limits = st.integers(min_value=0, max_value=60)
PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(start=known_dates, n=limits)
def test_counting_back_gives_n(start: date, n: int) -> None:
    due = CALENDAR.add_working_days(start, n).due
    assert CALENDAR.working_days_between(start, due) == n


@PROPERTY
@given(start=any_dates, n=limits)
def test_the_due_date_is_a_working_day(start: date, n: int) -> None:
    due = CALENDAR.add_working_days(start, n).due
    if n == 0:
        assert due == start
    else:
        assert due > start
        assert CALENDAR.is_working_day(due)
        # ... and the first day at which n working days have elapsed.
        assert CALENDAR.working_days_between(start, due - timedelta(days=1)) == n - 1


@PROPERTY
@given(start=any_dates, n=st.integers(min_value=0, max_value=59))
def test_more_days_give_a_later_date(start: date, n: int) -> None:
    assert CALENDAR.add_working_days(start, n).due < CALENDAR.add_working_days(start, n + 1).due


@PROPERTY
@given(start=any_dates, n=limits)
def test_provisional_iff_counting_leaves_the_known_days(start: date, n: int) -> None:
    result = CALENDAR.add_working_days(start, n)
    # Counting looks at the days after `start` up to the due date.
    assert result.provisional == (n > 0 and result.due > KNOWN_UNTIL)


@PROPERTY
@given(start=any_dates, n=limits)
def test_natural_day_limits(start: date, n: int) -> None:
    result = CALENDAR.deadline(start, n, DayKind.NATURAL)
    end = start + timedelta(days=n)
    assert result.due >= end
    assert CALENDAR.is_working_day(result.due)
    # Moved only over non-working days, to the first working day.
    day = end
    while day < result.due:
        assert not CALENDAR.is_working_day(day)
        day += timedelta(days=1)
    assert result.provisional == (result.due > KNOWN_UNTIL)


@PROPERTY
@given(start=any_dates, n=limits, data=st.data())
def test_elapsed_and_remaining_add_up_to_the_limit(
    start: date, n: int, data: st.DataObject
) -> None:
    due = CALENDAR.add_working_days(start, n).due
    today = data.draw(st.dates(min_value=start, max_value=due))
    elapsed = CALENDAR.elapsed_working_days(start, today)
    remaining = CALENDAR.remaining_working_days(today, due)
    assert elapsed + remaining == n
    assert remaining >= 0
    later = data.draw(st.integers(min_value=1, max_value=30))
    assert CALENDAR.remaining_working_days(due + timedelta(days=later), due) <= 0


@PROPERTY
@given(start=any_dates, n=limits)
def test_working_day_limits_through_deadline_match_add_working_days(start: date, n: int) -> None:
    assert CALENDAR.deadline(start, n, DayKind.WORKING) == CALENDAR.add_working_days(start, n)


@PROPERTY
@given(start=st.dates(min_value=date(2030, 1, 1), max_value=date(2040, 12, 31)), n=limits)
def test_without_data_weekends_alone_are_skipped(start: date, n: int) -> None:
    # The counting arithmetic alone: no notice and no statutory estimate.
    blank = WorkingCalendar(use_library=False, estimate_statutory=False)
    due = blank.add_working_days(start, n).due
    # n working days are n // 5 whole weeks and n % 5 weekdays more.
    expected = start + timedelta(weeks=n // 5)
    for _ in range(n % 5):
        expected += timedelta(days=1)
        while expected.weekday() >= 5:
            expected += timedelta(days=1)
    if n > 0 and n % 5 == 0:
        # A whole number of weeks from a weekend day ends on the Friday before.
        while expected.weekday() >= 5:
            expected -= timedelta(days=1)
    assert due == expected
