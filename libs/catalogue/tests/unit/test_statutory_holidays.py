"""The law's holidays (statutory_holidays) against the notices published for 2020-2026,
as chinesecalendar ships them: every holiday the law fixes is found, every estimated day
was a published day off, and the estimate differs from the notice only by make-up working
days and by bridge or substitute days around the law's holidays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import chinese_calendar
import pytest

from onceonly.catalogue import DayKind
from onceonly.catalogue.calendar import Deadline, WorkingCalendar, notice_from_library
from onceonly.catalogue.statutory_holidays import (
    StatutoryHoliday,
    law_in_force,
    statutory_days,
    statutory_holidays,
)

YEARS = range(2020, 2027)
ONE_DAY = timedelta(days=1)
# chinesecalendar's name of each holiday.
LIBRARY_NAME = {
    StatutoryHoliday.NEW_YEARS_DAY: "New Year's Day",
    StatutoryHoliday.SPRING_FESTIVAL: "Spring Festival",
    StatutoryHoliday.QINGMING: "Tomb-sweeping Day",
    StatutoryHoliday.LABOUR_DAY: "Labour Day",
    StatutoryHoliday.DRAGON_BOAT: "Dragon Boat Festival",
    StatutoryHoliday.MID_AUTUMN: "Mid-autumn Festival",
    StatutoryHoliday.NATIONAL_DAY: "National Day",
}


def d(text: str) -> date:
    return date.fromisoformat(text)


def days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += ONE_DAY


def published() -> WorkingCalendar:
    return WorkingCalendar(use_library=True, estimate_statutory=False)


def estimate() -> WorkingCalendar:
    return WorkingCalendar(use_library=False)  # no notice at all: the law's holidays only


def off_period(calendar: WorkingCalendar, day: date) -> set[date]:
    """The run of consecutive days off around `day` (a holiday period with its weekends)."""
    days = {day}
    for step in (ONE_DAY, -ONE_DAY):
        other = day + step
        while not calendar.is_working_day(other):
            days.add(other)
            other += step
    return days


@pytest.mark.parametrize("year", YEARS)
def test_every_estimated_day_was_a_published_holiday(year: int) -> None:
    holidays = {day for day in chinese_calendar.holidays if day.year == year}
    assert statutory_days(year) <= holidays


@pytest.mark.parametrize("year", YEARS)
def test_every_holiday_the_law_fixes_is_found(year: int) -> None:
    names = {name for day, name in chinese_calendar.holidays.items() if day.year == year}
    # The notices of these years gave no holiday but the law's (no one-off such as 2015's).
    assert names <= set(LIBRARY_NAME.values())
    for holiday, days in statutory_holidays(year).items():
        labelled = {
            day
            for day, name in chinese_calendar.holidays.items()
            if name == LIBRARY_NAME[holiday] and day.year == year
        }
        if labelled:
            assert set(days) & labelled, holiday
        else:  # it shared its day with another holiday: Mid-Autumn on Oct 1, 2020
            assert (year, holiday) == (2020, StatutoryHoliday.MID_AUTUMN)
            assert days == (d("2020-10-01"),)


@pytest.mark.parametrize("year", YEARS)
def test_the_estimate_differs_only_by_make_up_bridge_and_substitute_days(year: int) -> None:
    notice = notice_from_library(year)
    real, guess = published(), estimate()
    law = statutory_days(year) | statutory_days(year + 1)  # a notice may reach into Dec
    differences = {
        day for day in days_of(year) if real.is_working_day(day) != guess.is_working_day(day)
    }
    makeup = {day for day in differences if real.is_working_day(day)}
    extra_days_off = differences - makeup
    # Make-up working days (调休上班) are the only days the estimate takes off wrongly:
    # weekends the notice made working days.
    assert makeup == {day for day in notice.makeup_workdays if day.year == year}
    assert all(day.weekday() >= 5 for day in makeup)
    # Every other difference is a weekday the notice gave off beyond the law: a bridge day
    # (traded for a make-up day) or a substitute (补假) for a holiday on a weekend, always
    # in the same period off as one of the law's holidays.
    for day in extra_days_off:
        assert day.weekday() < 5 and day not in law
        assert off_period(real, day) & law, day


def test_the_versions_of_the_law() -> None:
    assert law_in_force(2024).endswith("(国务院令第644号, 2014)")
    assert law_in_force(2025).endswith("(国务院令第795号, 2025)")
    # 2014-2024: Spring Festival 正月初一 to 初三; the eve was a working day in 2024
    # (Fri Feb 9), so the law did not fix it.
    assert statutory_holidays(2024)[StatutoryHoliday.SPRING_FESTIVAL] == (
        d("2024-02-10"),
        d("2024-02-11"),
        d("2024-02-12"),
    )
    assert chinese_calendar.is_workday(d("2024-02-09"))
    assert statutory_holidays(2024)[StatutoryHoliday.LABOUR_DAY] == (d("2024-05-01"),)
    # From 2025: the eve (除夕) and May 2 as well, published as holidays in 2025 and 2026.
    for year, eve in ((2025, d("2025-01-28")), (2026, d("2026-02-16"))):
        spring = statutory_holidays(year)[StatutoryHoliday.SPRING_FESTIVAL]
        assert len(spring) == 4 and spring[0] == eve
        assert chinese_calendar.is_holiday(eve)
        assert statutory_holidays(year)[StatutoryHoliday.LABOUR_DAY] == (
            date(year, 5, 1),
            date(year, 5, 2),
        )
    with pytest.raises(ValueError, match="2008"):
        statutory_holidays(2007)


def test_a_year_without_a_notice() -> None:
    # 2027: lunar new year Sat Feb 6, so the eve is Fri Feb 5 and 初三 Mon Feb 8;
    # Qingming Mon Apr 5, Dragon Boat Wed Jun 9, Mid-Autumn Wed Sep 15.
    assert statutory_holidays(2027) == {
        StatutoryHoliday.NEW_YEARS_DAY: (d("2027-01-01"),),
        StatutoryHoliday.SPRING_FESTIVAL: (
            d("2027-02-05"),
            d("2027-02-06"),
            d("2027-02-07"),
            d("2027-02-08"),
        ),
        StatutoryHoliday.QINGMING: (d("2027-04-05"),),
        StatutoryHoliday.LABOUR_DAY: (d("2027-05-01"), d("2027-05-02")),
        StatutoryHoliday.DRAGON_BOAT: (d("2027-06-09"),),
        StatutoryHoliday.MID_AUTUMN: (d("2027-09-15"),),
        StatutoryHoliday.NATIONAL_DAY: (d("2027-10-01"), d("2027-10-02"), d("2027-10-03")),
    }


def test_a_deadline_past_the_last_notice_skips_new_year_and_spring_festival(
    shipped_only: WorkingCalendar,
) -> None:
    # Notices known until 2026 (the shipped file only). 35 working days from Fri
    # 2026-12-18: Dec 21-31 (9), Jan 1 off, Jan 4-Feb 4 (33), Feb 5 and Mon Feb 8 off
    # (the eve and 初三), Feb 9-10 (35).
    assert shipped_only.deadline(d("2026-12-18"), 35, DayKind.WORKING) == Deadline(
        d("2027-02-10"), provisional=True
    )
    for day in ("2027-01-01", "2027-02-05", "2027-02-08"):
        assert not shipped_only.is_working_day(d(day))
    assert not shipped_only.is_known(d("2027-02-10"))


def test_the_estimate_of_2025_from_2024_against_the_2025_notice() -> None:
    # A calendar that knew the notices only until 2024, as in December 2024.
    then = WorkingCalendar(use_library=False)
    then.load_notice(notice_from_library(2024))
    accepted = d("2024-12-20")
    estimated = then.deadline(accepted, 35, DayKind.WORKING)
    # Jan 1 and Jan 28-31 off by law; Sun Jan 26 and Sat Feb 8 (make-up days) and Feb 3-4
    # (bridge days) unknown: they cancel out here, and the estimate is the real date.
    assert estimated == Deadline(d("2025-02-14"), provisional=True)
    then.load_notice(notice_from_library(2025))
    assert then.deadline(accepted, 35, DayKind.WORKING) == Deadline(d("2025-02-14"), False)
    # Weekends only, as before the estimate, the date promised was a week early.
    plain = WorkingCalendar(use_library=False, estimate_statutory=False)
    plain.load_notice(notice_from_library(2024))
    assert plain.deadline(accepted, 35, DayKind.WORKING).due == d("2025-02-07")
