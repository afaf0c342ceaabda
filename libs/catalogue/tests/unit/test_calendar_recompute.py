"""Deadlines that reach past the last announced year are provisional (estimated with
the law's holidays, see statutory_holidays), and move to their final date once that
year's notice is loaded.

The 2027 notice used here is FICTIONAL (conftest.FICTIONAL_2027): Jan 1-3 and Wed Jan
13 off, Sat Jan 9 worked. The calendar under test knows only the shipped files, so the
outcome does not depend on which chinesecalendar release is installed.
"""

from __future__ import annotations

from datetime import date

from onceonly.catalogue import DayKind
from onceonly.catalogue.calendar import (
    Deadline,
    DeadlineInput,
    WorkingCalendar,
    YearNotice,
    recompute,
)

W, N = DayKind.WORKING, DayKind.NATURAL


def d(text: str) -> date:
    return date.fromisoformat(text)


OPEN_DEADLINES = [
    # A 25-working-day construction approval accepted Fri 2026-12-18 runs into 2027.
    DeadlineInput(d("2026-12-18"), 25, W),
    # Entirely in 2026 and before Dec 29: final from the start.
    DeadlineInput(d("2026-10-09"), 5, W),
    DeadlineInput(d("2026-12-21"), 5, W),
    # Ends on Tue Dec 29: the 2027 notice could still have moved it.
    DeadlineInput(d("2026-12-21"), 6, W),
    # Ten natural days ending on Fri 2027-01-01, New Year's Day whatever the notice says.
    DeadlineInput(d("2026-12-22"), 10, N),
    # Ten natural days ending on Mon 2027-01-04.
    DeadlineInput(d("2026-12-25"), 10, N),
]


def test_deadlines_into_an_unknown_year_are_provisional(shipped_only: WorkingCalendar) -> None:
    assert recompute(OPEN_DEADLINES, shipped_only) == [
        # Dec 21-25, Dec 28-31, Jan 1 off (New Year's Day by law), then weekdays:
        # day 25 is Mon Jan 25; unknown 2027 make-up days could still move it.
        Deadline(d("2027-01-25"), provisional=True),
        Deadline(d("2026-10-15"), provisional=False),  # Oct 10 (make-up Saturday), 12-15
        Deadline(d("2026-12-28"), provisional=False),
        Deadline(d("2026-12-29"), provisional=True),
        Deadline(d("2027-01-04"), provisional=True),  # Jan 1 off: moves to Monday
        Deadline(d("2027-01-04"), provisional=True),
    ]


def test_loading_the_year_notice_makes_them_final(
    shipped_only: WorkingCalendar, fictional_2027: YearNotice
) -> None:
    before = recompute(OPEN_DEADLINES, shipped_only)
    shipped_only.load_notice(fictional_2027)
    after = recompute(OPEN_DEADLINES, shipped_only)
    assert after == [
        # Dec 21-25 (5), Dec 28-31 (9), Jan 1 off, Jan 4-8 (14), Sat Jan 9 worked (15),
        # Jan 11-12 (17), Jan 13 off, Jan 14-15 (19), Jan 18-22 (24), Mon Jan 25 (25).
        Deadline(d("2027-01-25"), provisional=False),
        Deadline(d("2026-10-15"), provisional=False),
        Deadline(d("2026-12-28"), provisional=False),
        Deadline(d("2026-12-29"), provisional=False),
        Deadline(d("2027-01-04"), provisional=False),  # Jan 1-3 off: moves to Monday
        Deadline(d("2027-01-04"), provisional=False),  # same day, now final
    ]
    changed = [
        item for item, old, new in zip(OPEN_DEADLINES, before, after, strict=True) if old != new
    ]
    assert changed == [OPEN_DEADLINES[0], OPEN_DEADLINES[3], OPEN_DEADLINES[4], OPEN_DEADLINES[5]]


def test_recompute_only_the_provisional_ones(
    shipped_only: WorkingCalendar, fictional_2027: YearNotice
) -> None:
    # The caller keeps (inputs, deadline) of its open clocks and recomputes the
    # provisional ones; final ones cannot change when a later year is loaded.
    before = recompute(OPEN_DEADLINES, shipped_only)
    provisional = [i for i, item in zip(OPEN_DEADLINES, before, strict=True) if item.provisional]
    shipped_only.load_notice(fictional_2027)
    assert [item.due for item in recompute(provisional, shipped_only)] == [
        d("2027-01-25"),
        d("2026-12-29"),
        d("2027-01-04"),
        d("2027-01-04"),
    ]
    final = [i for i, item in zip(OPEN_DEADLINES, before, strict=True) if not item.provisional]
    assert recompute(final, shipped_only) == [item for item in before if not item.provisional]


def test_the_next_notice_can_move_the_last_days_of_december(
    shipped_only: WorkingCalendar,
) -> None:
    # FICTIONAL: a 2027 notice that reaches back and gives Thu 2026-12-31 off (the real
    # 2019 notice did this to 2018-12-30..31). That is why Dec 29-31 stay provisional
    # until the next year is known.
    inputs = [DeadlineInput(d("2026-12-28"), 3, W)]
    assert recompute(inputs, shipped_only) == [Deadline(d("2026-12-31"), provisional=True)]
    shipped_only.load_notice(
        YearNotice.from_yaml(
            "year: 2027\nsource: FICTIONAL, tests only\nholidays: ['2026-12-31..2027-01-03']\n"
        )
    )
    assert recompute(inputs, shipped_only) == [Deadline(d("2027-01-04"), provisional=False)]


def test_recompute_of_nothing_is_nothing(shipped_only: WorkingCalendar) -> None:
    assert recompute([], shipped_only) == []
