"""Helpers for tests that need a calendar or a matter's materials (not used at run time)."""

from __future__ import annotations

from datetime import date, timedelta

from onceonly.catalogue.calendar import WorkingCalendar, YearNotice

# Every material of the sample construction joint approval.
CONSTRUCTION_MATERIALS = [
    "project-application",
    "land-use-certificate",
    "site-plan",
    "design-drawings",
    "fire-design",
    "contractor-contract",
]


def holiday_calendar(today: date) -> tuple[WorkingCalendar, set[date], date]:
    """Calendars for this year and the next: a seven-day holiday from ten days after
    `today`, and the first weekend day after it made a working day (调休)."""
    start = today + timedelta(days=10)
    holidays = {start + timedelta(days=n) for n in range(7)}
    makeup = next(
        day for day in (start + timedelta(days=7 + n) for n in range(7)) if day.weekday() >= 5
    )
    calendar = WorkingCalendar(use_library=False)
    for year in (today.year, today.year + 1):
        calendar.load_notice(
            YearNotice(
                year=year,
                holidays=frozenset(d for d in holidays if d.year == year),
                makeup_workdays=frozenset({makeup} if makeup.year == year else ()),
                source="test: fictional holiday week",
            )
        )
    return calendar, holidays, makeup
