"""DOMAIN.md rule 1 on real 2026 dates: counting starts the working day after
acceptance, make-up working days count, weekends and holidays do not, a natural-day
limit ending on a non-working day moves to the next working day.

2026 per chinesecalendar 1.11.0 (checked against the library in test_calendar_notices):
New Year Jan 1-3 (Sun Jan 4 worked); Spring Festival Feb 15-23 (Sat Feb 14 and Sat Feb
28 worked); Qingming Apr 4-6; Labour Day May 1-5 (Sat May 9 worked); Dragon Boat Jun
19-21; Mid-Autumn Sep 25-27 and National Day Oct 1-7, two separate periods (Sun Sep 20
and Sat Oct 10 worked).
"""

from __future__ import annotations

from datetime import date

import pytest

from onceonly.catalogue import DayKind, default_catalogue
from onceonly.catalogue.calendar import Deadline, WorkingCalendar

W, N = DayKind.WORKING, DayKind.NATURAL


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.mark.parametrize(
    ("accepted", "days", "due"),
    [
        # National Day: the first working day after Wed Sep 30 is Thu Oct 8.
        ("2026-09-30", 1, "2026-10-08"),
        # ... and the make-up Saturday Oct 10 is day 3.
        ("2026-09-30", 3, "2026-10-10"),
        ("2026-09-30", 5, "2026-10-13"),
        # Mid-Autumn: Fri Sep 25 is a holiday, so day 1 after Thu Sep 24 is Mon Sep 28.
        ("2026-09-24", 1, "2026-09-28"),
        # The make-up Sunday Sep 20 is a working day: day 1 after Fri Sep 18.
        ("2026-09-18", 1, "2026-09-20"),
        # Spring Festival: Sat Feb 14 worked, Feb 15-23 off, Sat Feb 28 worked.
        ("2026-02-13", 1, "2026-02-14"),
        ("2026-02-13", 2, "2026-02-24"),
        ("2026-02-13", 3, "2026-02-25"),  # business start-up, 3 working days
        ("2026-02-13", 5, "2026-02-27"),  # birth of a child, 5 working days
        ("2026-02-13", 6, "2026-02-28"),  # due on a make-up Saturday
        # Labour Day May 1-5: three working days after Thu Apr 30 end Fri May 8 ...
        ("2026-04-30", 3, "2026-05-08"),
        # ... and the fourth is the make-up Saturday May 9.
        ("2026-04-30", 4, "2026-05-09"),
        # An ordinary week: Mon + 5 working days is the next Monday.
        ("2026-03-02", 5, "2026-03-09"),
        # An instant matter (0 days) is due on the day of acceptance.
        ("2026-03-02", 0, "2026-03-02"),
    ],
)
def test_working_day_limits_over_2026_holidays(
    calendar: WorkingCalendar, accepted: str, days: int, due: str
) -> None:
    assert calendar.deadline(d(accepted), days, W) == Deadline(due=d(due), provisional=False)


@pytest.mark.parametrize(
    ("accepted", "due"),
    [
        # Accepted on a Friday or on the weekend after it: the count starts on Monday
        # either way (the acceptance day never counts, whatever kind of day it is).
        ("2026-03-06", "2026-03-09"),
        ("2026-03-07", "2026-03-09"),
        ("2026-03-08", "2026-03-09"),
        # Accepted on a holiday (Mon Feb 16, Spring Festival): day 1 is Tue Feb 24.
        ("2026-02-16", "2026-02-24"),
        # Accepted on Sat Jan 3 (a holiday and a Saturday): day 1 is the make-up Sunday.
        ("2026-01-03", "2026-01-04"),
        # Accepted on the make-up Saturday Oct 10 itself: day 1 is Mon Oct 12.
        ("2026-10-10", "2026-10-12"),
    ],
)
def test_acceptance_on_a_non_working_day_counts_from_the_next_working_day(
    calendar: WorkingCalendar, accepted: str, due: str
) -> None:
    assert calendar.add_working_days(d(accepted), 1).due == d(due)


def test_construction_approval_accepted_just_before_national_day(
    calendar: WorkingCalendar,
) -> None:
    matter = default_catalogue().matter("construction-joint-approval")
    assert matter is not None
    accepted = d("2026-09-29")  # Tuesday; Oct 1-7 off, Sat Oct 10 worked
    overall = calendar.deadline(accepted, matter.committed_days, matter.day_kind)
    # Sep 30 is day 1, Oct 8 day 2, Oct 10 day 4, ... Mon Nov 9 day 25: the holiday
    # adds five weekdays off and gives one Saturday back.
    assert overall == Deadline(due=d("2026-11-09"), provisional=False)
    legal = calendar.deadline(accepted, matter.legal_days or 0, matter.day_kind)
    assert legal.due == d("2026-11-16")
    per_department = {
        task.department: calendar.deadline(accepted, task.committed_days, matter.day_kind).due
        for task in matter.tasks
    }
    assert per_department == {
        "development-reform": d("2026-10-12"),  # 5: Sep 30, Oct 8, 9, 10, 12
        "natural-resources": d("2026-10-19"),  # 10
        "housing-construction": d("2026-10-14"),  # 7
        "fire": d("2026-10-19"),  # 10
        "civil-air-defence": d("2026-10-12"),  # 5
    }


def test_construction_approval_over_mid_autumn_and_national_day(
    calendar: WorkingCalendar,
) -> None:
    # Accepted Fri Sep 18: Sun Sep 20 worked, Sep 25 off, Oct 1-7 off, Sat Oct 10
    # worked; weekends alone would give Fri Oct 23, the six weekday holidays less the
    # two make-up days push it four working days on.
    assert calendar.deadline(d("2026-09-18"), 25, W) == Deadline(d("2026-10-29"), False)


@pytest.mark.parametrize(
    ("accepted", "due"),
    [
        ("2026-03-02", "2026-03-12"),  # ends on a Thursday: stays
        ("2026-03-05", "2026-03-16"),  # ends on Sun Mar 15: moves to Monday
        ("2026-09-21", "2026-10-08"),  # ends on Thu Oct 1 (National Day): moves to Oct 8
        ("2026-02-11", "2026-02-24"),  # ends on Sat Feb 21 (Spring Festival)
        ("2026-09-30", "2026-10-10"),  # ends on the make-up Saturday Oct 10: stays
        ("2026-03-07", "2026-03-17"),  # accepted on a Saturday: counting is natural too
    ],
)
def test_household_transfer_ten_natural_days(
    calendar: WorkingCalendar, accepted: str, due: str
) -> None:
    matter = default_catalogue().matter("household-transfer")
    assert matter is not None and matter.day_kind is N and matter.committed_days == 10
    assert calendar.deadline(d(accepted), 10, N) == Deadline(due=d(due), provisional=False)


def test_negative_limits_are_refused(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar.deadline(d("2026-03-02"), -1, W)
    with pytest.raises(ValueError, match="negative"):
        calendar.deadline(d("2026-03-02"), -1, N)


def test_working_day_status_of_2026_days(calendar: WorkingCalendar) -> None:
    assert calendar.is_working_day(d("2026-01-04"))  # Sunday, made up
    assert not calendar.is_working_day(d("2026-01-02"))  # Friday, New Year
    assert not calendar.is_working_day(d("2026-02-23"))  # Monday, Spring Festival
    assert calendar.is_working_day(d("2026-09-20"))  # Sunday, made up
    assert not calendar.is_working_day(d("2026-09-25"))  # Friday, Mid-Autumn
    assert not calendar.is_working_day(d("2026-10-07"))  # Wednesday, National Day
    assert calendar.is_working_day(d("2026-10-08"))
    assert not calendar.is_working_day(d("2026-10-11"))  # an ordinary Sunday
    assert calendar.next_working_day(d("2026-10-01")) == d("2026-10-08")
    assert calendar.next_working_day(d("2026-10-08")) == d("2026-10-08")


def test_working_days_between_counts_the_half_open_interval(calendar: WorkingCalendar) -> None:
    count = calendar.working_days_between
    assert count(d("2026-03-06"), d("2026-03-06")) == 0  # same day
    assert count(d("2026-03-09"), d("2026-03-06")) == 0  # end before start
    assert count(d("2026-03-06"), d("2026-03-08")) == 0  # Fri -> Sun: the weekend
    assert count(d("2026-03-06"), d("2026-03-09")) == 1  # the start never counts, the end does
    assert count(d("2026-03-05"), d("2026-03-06")) == 1
    assert count(d("2026-09-30"), d("2026-10-08")) == 1  # across National Day
    assert count(d("2026-09-30"), d("2026-10-10")) == 3  # the make-up Saturday counts
    # 261 weekdays in 2026, 19 of them holidays, 6 weekend days made up.
    assert count(d("2025-12-31"), d("2026-12-31")) == 248


def test_elapsed_and_remaining_working_days_of_a_clock(calendar: WorkingCalendar) -> None:
    accepted, due = d("2026-09-18"), d("2026-10-29")  # 25 working days
    on = {
        "2026-09-18": (0, 25),  # the day of acceptance
        "2026-09-20": (1, 24),  # the make-up Sunday was worked
        "2026-10-01": (8, 17),  # in the holiday: nothing elapses until Oct 8
        "2026-10-07": (8, 17),
        "2026-10-08": (9, 16),
        "2026-10-28": (24, 1),  # one working day left: the yellow point
        "2026-10-29": (25, 0),  # due today
    }
    for today, (elapsed, remaining) in on.items():
        assert calendar.elapsed_working_days(accepted, d(today)) == elapsed, today
        assert calendar.remaining_working_days(d(today), due) == remaining, today
    # Overdue: negative, counting the working days past the due date.
    assert calendar.remaining_working_days(d("2026-10-30"), due) == -1
    assert calendar.remaining_working_days(d("2026-10-31"), due) == -1  # Saturday
    assert calendar.remaining_working_days(d("2026-11-02"), due) == -2


def test_a_calendar_without_data_estimates_with_the_laws_holidays_provisionally() -> None:
    blank = WorkingCalendar(use_library=False)
    assert blank.known_until() is None
    assert not blank.is_known(d("2026-10-01"))
    # National Day (Oct 1-3 by law) is off even to a calendar that knows no notice; the
    # notice's bridge days (Oct 5-7 in 2026) are not known, so Mon Oct 5 counts.
    assert blank.deadline(d("2026-09-30"), 1, W) == Deadline(d("2026-10-05"), True)
    # Without the estimate, only weekends are skipped.
    plain = WorkingCalendar(use_library=False, estimate_statutory=False)
    assert plain.deadline(d("2026-09-30"), 1, W) == Deadline(d("2026-10-01"), True)
    assert blank.deadline(d("2026-03-06"), 1, W) == Deadline(d("2026-03-09"), True)
    assert blank.deadline(d("2026-03-05"), 10, N) == Deadline(d("2026-03-16"), True)
    # Nothing was counted, so nothing depends on the unknown year.
    assert blank.deadline(d("2026-03-06"), 0, W) == Deadline(d("2026-03-06"), False)
