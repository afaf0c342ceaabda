"""The working-day calendar (工作日) and deadlines counted on it.

Official holidays and make-up working days (调休) come from `chinesecalendar` for the
years it knows, plus the State Council's yearly notices loaded as data. A date in a
year nobody has announced yet counts by weekends only, and anything computed from such
a date is marked provisional so it can be shown as such and recomputed later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar
import yaml

from onceonly.catalogue.model import DayKind

_LIBRARY_YEARS = range(2004, 2027)  # what chinesecalendar 1.11 knows; it raises beyond


@dataclass(frozen=True, slots=True)
class YearNotice:
    """One year's official schedule: the State Council's notice as data."""

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]

    @classmethod
    def from_yaml(cls, text: str) -> YearNotice:
        raw = yaml.safe_load(text)
        year = int(raw["year"])
        holidays = frozenset(_dates(raw.get("holidays", [])))
        workdays = frozenset(_dates(raw.get("makeup_workdays", [])))
        for day in holidays | workdays:
            if day.year != year:
                raise ValueError(f"notice for {year} lists {day.isoformat()}")
        if holidays & workdays:
            raise ValueError(f"notice for {year} lists a day as both holiday and workday")
        return cls(year=year, holidays=holidays, makeup_workdays=workdays)


def _dates(items: Iterable[object]) -> Iterable[date]:
    for item in items:
        yield item if isinstance(item, date) else date.fromisoformat(str(item))


@dataclass(frozen=True, slots=True)
class Deadline:
    due: date
    provisional: bool


@dataclass
class WorkingCalendar:
    """Answers whether a day is a working day; knows which years are official."""

    notices: dict[int, YearNotice] = field(default_factory=dict)
    use_library: bool = True

    def load_notice(self, notice: YearNotice) -> None:
        self.notices[notice.year] = notice

    def is_known(self, day: date) -> bool:
        return day.year in self.notices or (self.use_library and day.year in _LIBRARY_YEARS)

    def is_working_day(self, day: date) -> bool:
        notice = self.notices.get(day.year)
        if notice is not None:
            if day in notice.makeup_workdays:
                return True
            if day in notice.holidays:
                return False
            return day.weekday() < 5
        if self.use_library and day.year in _LIBRARY_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5  # provisional: weekends only

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first one after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, days: int) -> Deadline:
        """The `days`-th working day after `start` (counting starts the day after)."""
        if days < 0:
            raise ValueError("days must not be negative")
        provisional = not self.is_known(start)
        current = start
        remaining = days
        while remaining > 0:
            current += timedelta(days=1)
            provisional = provisional or not self.is_known(current)
            if self.is_working_day(current):
                remaining -= 1
        return Deadline(due=current, provisional=provisional)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many have elapsed since `start` by `end`."""
        if end <= start:
            return 0
        count = 0
        current = start
        while current < end:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    def deadline(self, accepted_on: date, days: int, day_kind: DayKind) -> Deadline:
        """The due date of a limit of `days` counted from acceptance on `accepted_on`.

        Natural-day limits that end on a non-working day move to the next working day.
        """
        if day_kind is DayKind.WORKING:
            return self.add_working_days(accepted_on, days)
        due = self.next_working_day(accepted_on + timedelta(days=days))
        provisional = not (self.is_known(accepted_on) and self.is_known(due))
        return Deadline(due=due, provisional=provisional)


def default_calendar() -> WorkingCalendar:
    return WorkingCalendar()
