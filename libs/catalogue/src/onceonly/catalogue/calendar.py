"""The working-day calendar (工作日) and deadlines counted on it.

A day is a working day unless it is a weekend or a public holiday; an official make-up
working day (调休) on a weekend is a working day. Which days those are comes from the
State Council's yearly notice (国务院办公厅关于某年部分节假日安排的通知), known from two
sources: `chinesecalendar` for the years it ships, and notices loaded as data (one YAML
file per year, see data/calendar/README.md). A loaded notice wins over the library for
its year, so an operator can correct or add a year without a release.

A year nobody has announced yet is estimated: weekends and every holiday the law fixes
(全国年节及纪念日放假办法, see `statutory_holidays`) are not working days; only the
notice's make-up working days, bridge days and substitute days (补假) are unknown.
Anything whose answer depended on such a day is marked provisional, shown as an
estimate, and recomputed (`recompute`) once the year's notice is loaded.

A year's notice can reach back into the last days of the year before: the notice for
2019 made Sat 2018-12-29 a working day and 2018-12-30..31 holidays (likewise 2007,
2008, 2012). So the last days of December (from the 29th) are only final once the next
year's notice is known, and count as provisional until then.

Counting rules (DOMAIN.md, rule 1):
- the acceptance day itself never counts; working-day limits count the working days
  strictly after it, so an application accepted on a Saturday or a holiday has the
  first working day after that as day 1, exactly like one accepted on the working day
  before the weekend;
- a natural-day limit counts calendar days from the day after acceptance and, if it
  ends on a non-working day, moves to the next working day;
- make-up working days count, weekends and holidays do not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import chinese_calendar
import yaml

from onceonly.catalogue.model import DayKind
from onceonly.catalogue.statutory_holidays import FIRST_YEAR, LAST_YEAR, statutory_days

# Where working days are counted: every limit, deadline and "today" of the service is
# a date in China Standard Time (UTC+8 all year; no daylight saving since 1991).
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_ONE_DAY = timedelta(days=1)
_RANGE = ".."
_NOTICE_KEYS = frozenset({"year", "source", "holidays", "makeup_workdays"})
_NOTICE_SUFFIXES = (".yaml", ".yml")
# (month, day) from which the next year's notice may still change a day: every notice
# from 2004 to 2026 that reached back into December started on the 29th or later.
_NEXT_NOTICE_REACH = (12, 29)
# Years chinesecalendar ships data for; it raises NotImplementedError outside them.
_LIBRARY_YEARS = range(
    min(day.year for day in chinese_calendar.holidays),
    max(day.year for day in chinese_calendar.holidays) + 1,
)


class CalendarError(ValueError):
    """A year notice is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class YearNotice:
    """One year's official schedule: the State Council's notice as data.

    `holidays` are the days off of each holiday period, weekends inside a period
    included (as the notice announces them); `makeup_workdays` are the weekend days
    worked in exchange (调休上班).
    """

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str = ""

    @classmethod
    def from_yaml(cls, text: str, *, origin: str = "<notice>") -> YearNotice:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CalendarError(f"{origin}: not valid YAML: {exc}") from exc
        return cls.from_mapping(raw, origin=origin)

    @classmethod
    def from_mapping(cls, raw: object, *, origin: str = "<notice>") -> YearNotice:
        if not isinstance(raw, dict):
            raise CalendarError(f"{origin}: expected a mapping with {sorted(_NOTICE_KEYS)}")
        unknown = set(raw) - _NOTICE_KEYS
        if unknown:
            raise CalendarError(f"{origin}: unknown keys {sorted(map(str, unknown))}")
        for key in ("year", "source", "holidays"):  # makeup_workdays may be absent
            if key not in raw:
                raise CalendarError(f"{origin}: missing {key!r}")
        year = raw["year"]
        if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 2200:
            raise CalendarError(f"{origin}: year: expected a year such as 2027, got {year!r}")
        source = raw["source"]
        if not isinstance(source, str) or not source.strip():
            raise CalendarError(f"{origin}: source: name the notice (title and number)")
        holidays = _day_list(raw["holidays"], year, f"{origin}: holidays")
        if not holidays:
            raise CalendarError(f"{origin}: holidays: a year without holidays is a mistake")
        workdays = _day_list(raw.get("makeup_workdays") or [], year, f"{origin}: makeup_workdays")
        for day in workdays:
            if day.weekday() < 5:
                raise CalendarError(
                    f"{origin}: makeup_workdays: {day.isoformat()} is a {day:%A}; make-up"
                    " working days are weekend days"
                )
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise CalendarError(
                f"{origin}: {both[0].isoformat()} is both a holiday and a make-up working day"
            )
        return cls(
            year=year,
            holidays=frozenset(holidays),
            makeup_workdays=frozenset(workdays),
            source=source.strip(),
        )

    def to_yaml(self, names: dict[date, str] | None = None) -> str:
        """The notice in the data-file format, periods written as ranges; `names`
        (optional) labels days with their holiday's name as comments."""
        names = names or {}
        lines = [
            f"# Public holidays and make-up working days (调休) of {self.year}.",
            "# Format and how to add a year: README.md in this folder.",
            f"year: {self.year}",
            f"source: {_yaml_scalar(self.source)}",
            "holidays:",
        ]
        lines += _range_lines(sorted(self.holidays), names)
        lines.append("makeup_workdays:" if self.makeup_workdays else "makeup_workdays: []")
        lines += _range_lines(sorted(self.makeup_workdays), names, ranges=False)
        return "\n".join(lines) + "\n"


def _reached_by_next_notice(day: date) -> bool:
    return (day.month, day.day) >= _NEXT_NOTICE_REACH


def _day_list(items: object, year: int, where: str) -> list[date]:
    """Dates and `first..last` ranges, expanded; every day once, all within `year` or
    the end of the year before that a notice may reach back to (from Dec 29)."""
    if not isinstance(items, list):
        raise CalendarError(f"{where}: expected a list of dates or ranges")
    days: list[date] = []
    seen: set[date] = set()
    for item in items:
        for day in _expand(item, where):
            if day.year != year and not (day.year == year - 1 and _reached_by_next_notice(day)):
                raise CalendarError(
                    f"{where}: {day.isoformat()} is not in {year} (nor in the last days of"
                    f" {year - 1}, from {year - 1}-12-29, that a notice may reach back to)"
                )
            if day in seen:
                raise CalendarError(f"{where}: {day.isoformat()} is listed twice (overlap)")
            seen.add(day)
            days.append(day)
    return days


def _expand(item: object, where: str) -> Iterator[date]:
    if isinstance(item, date):  # YAML reads a bare 2027-10-01 as a date already
        yield item
        return
    text = str(item).strip()
    try:
        if _RANGE not in text:
            yield date.fromisoformat(text)
            return
        first_text, last_text = (part.strip() for part in text.split(_RANGE, 1))
        first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    except ValueError:
        raise CalendarError(
            f"{where}: {text!r} is neither a date (2027-10-01) nor a range (2027-10-01..2027-10-07)"
        ) from None
    if last < first:
        raise CalendarError(f"{where}: range {text!r} ends before it starts")
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _range_lines(days: Sequence[date], names: dict[date, str], *, ranges: bool = True) -> list[str]:
    lines: list[str] = []
    runs: list[list[date]] = []
    for day in days:
        if ranges and runs and runs[-1][-1] + _ONE_DAY == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    for run in runs:
        first, last = run[0], run[-1]
        entry = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        labels = list(dict.fromkeys(names[day] for day in run if day in names))
        label = " + ".join(labels)
        if first == last:
            label = f"{first:%a}" + (f", {label}" if label else "")
        lines.append(f"  - {entry}" + (f"  # {label}" if label else ""))
    return lines


def _yaml_scalar(text: str) -> str:
    return yaml.safe_dump(text, allow_unicode=True, default_style='"', width=1000).strip()


def notice_from_library(year: int) -> YearNotice:
    """chinesecalendar's data for `year`, as a notice (used to write the shipped files
    and to answer for the library's years)."""
    if year not in _LIBRARY_YEARS:
        raise CalendarError(f"chinesecalendar has no data for {year}")
    return _library_notice(year)


@cache
def _library_notice(year: int) -> YearNotice:
    return YearNotice(
        year=year,
        holidays=frozenset(day for day in chinese_calendar.holidays if day.year == year),
        makeup_workdays=frozenset(day for day in chinese_calendar.workdays if day.year == year),
        source=f"chinesecalendar {_library_version()}",
    )


def _library_version() -> str:
    return str(getattr(chinese_calendar, "__version__", "")).strip() or "(unknown version)"


def library_notice_yaml(year: int, source: str) -> str:
    """The data file for `year` reproduced from chinesecalendar, with holiday names."""
    notice = notice_from_library(year)
    names: dict[date, str] = {}
    for day in notice.holidays | notice.makeup_workdays:
        english = chinese_calendar.holidays.get(day) or chinese_calendar.workdays[day]
        names[day] = f"{chinese_calendar.Holiday(english).chinese} {english}"
    return YearNotice(
        year=year,
        holidays=notice.holidays,
        makeup_workdays=notice.makeup_workdays,
        source=source,
    ).to_yaml(names)


def load_notices_from(path: Path | Traversable) -> list[YearNotice]:
    """Every notice in a directory (`*.yaml`, `*.yml`; other files such as a README are
    ignored) or the single notice file `path`, sorted by year.

    A file named after a year (2027.yaml) must hold that year, and a year may appear in
    one file only.
    """
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            (entry for entry in path.iterdir() if entry.name.endswith(_NOTICE_SUFFIXES)),
            key=lambda entry: entry.name,
        )
    else:
        raise CalendarError(f"{path}: no such notice file or directory")
    notices: dict[int, YearNotice] = {}
    origins: dict[int, str] = {}
    for entry in files:
        origin = str(entry)
        notice = YearNotice.from_yaml(entry.read_text(encoding="utf-8"), origin=origin)
        stem = entry.name.rsplit(".", 1)[0]
        if stem.isdigit() and int(stem) != notice.year:
            raise CalendarError(f"{origin}: file is named for {stem} but holds {notice.year}")
        if notice.year in notices:
            raise CalendarError(f"{origin}: {notice.year} is also in {origins[notice.year]}")
        notices[notice.year] = notice
        origins[notice.year] = origin
    return [notices[year] for year in sorted(notices)]


def shipped_notices() -> list[YearNotice]:
    """The notices shipped in this package's data/calendar/ folder."""
    folder = resources.files("onceonly.catalogue").joinpath("data", "calendar")
    return load_notices_from(folder)


@dataclass(frozen=True, slots=True)
class Deadline:
    due: date
    provisional: bool  # depends on a day of a year whose notice is not known yet


@dataclass(frozen=True, slots=True)
class DeadlineInput:
    """What a deadline was computed from, kept so that it can be recomputed."""

    accepted_on: date
    days: int
    day_kind: DayKind


@dataclass
class WorkingCalendar:
    """Answers whether a day is a working day; knows which years are official."""

    notices: dict[int, YearNotice] = field(default_factory=dict)
    use_library: bool = True
    # Estimate a year without a notice with the law's holidays (False: weekends only,
    # as before the estimate existed; for tests that need a plain calendar).
    estimate_statutory: bool = True

    def load_notice(self, notice: YearNotice) -> None:
        """Add (or replace) a year's notice; it wins over chinesecalendar's data."""
        self.notices[notice.year] = notice

    def load_notices(self, notices: Iterable[YearNotice]) -> None:
        for notice in notices:
            self.load_notice(notice)

    def _notice_for(self, year: int) -> YearNotice | None:
        notice = self.notices.get(year)
        if notice is None and self.use_library and year in _LIBRARY_YEARS:
            notice = _library_notice(year)
        return notice

    def is_known(self, day: date) -> bool:
        """Whether `day` is final: its year's notice is known and, for the last days of
        December, the next year's too (it may still move them)."""
        if self._notice_for(day.year) is None:
            return False
        return not _reached_by_next_notice(day) or self._notice_for(day.year + 1) is not None

    def known_years(self) -> list[int]:
        years = set(self.notices)
        if self.use_library:
            years.update(_LIBRARY_YEARS)
        return sorted(years)

    def known_until(self) -> date | None:
        """The last day up to which every day is final, counted from the first known
        year (a notice for a later year does not bridge a missing one): deadlines after
        it are provisional. That is Dec 28 of the last known year, as the next year's
        notice may still move the days after. None when no year is known."""
        years = self.known_years()
        if not years:
            return None
        last = years[0]
        while last + 1 in years:
            last += 1
        return date(last, *_NEXT_NOTICE_REACH) - _ONE_DAY

    def is_working_day(self, day: date) -> bool:
        # The next year's notice first: it is the later word on the last days of December.
        for notice in (self._notice_for(day.year + 1), self._notice_for(day.year)):
            if notice is not None:
                if day in notice.makeup_workdays:
                    return True
                if day in notice.holidays:
                    return False
        if day.weekday() >= 5:
            return False
        # An unknown year (provisionally): the law's holidays are certain to be days off,
        # only the notice's swaps around them are not.
        return not (self._notice_for(day.year) is None and self._statutory(day))

    def _statutory(self, day: date) -> bool:
        if not self.estimate_statutory or not FIRST_YEAR <= day.year <= LAST_YEAR:
            return False
        return day in statutory_days(day.year)

    def next_working_day(self, day: date) -> date:
        """`day` itself if it is a working day, else the first one after it."""
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def add_working_days(self, start: date, days: int) -> Deadline:
        """The `days`-th working day strictly after `start` (the acceptance day never
        counts, whatever kind of day it is); 0 days is `start` itself. Provisional when
        a day counted over lies in an unknown year."""
        if days < 0:
            raise ValueError("days must not be negative")
        provisional = False
        current = start
        remaining = days
        while remaining > 0:
            current += _ONE_DAY
            provisional = provisional or not self.is_known(current)
            if self.is_working_day(current):
                remaining -= 1
        return Deadline(due=current, provisional=provisional)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many have elapsed since `start` by the end
        of `end`; 0 when `end` is not after `start`. The inverse of `add_working_days`:
        `working_days_between(s, add_working_days(s, n).due) == n`."""
        count = 0
        current = start
        while current < end:
            current += _ONE_DAY
            if self.is_working_day(current):
                count += 1
        return count

    def elapsed_working_days(self, accepted_on: date, today: date) -> int:
        """Working days of a clock used up by the end of `today`."""
        return self.working_days_between(accepted_on, today)

    def remaining_working_days(self, today: date, due: date) -> int:
        """Working days left after `today` until `due`: 0 on the due day itself,
        negative (the working days overdue) after it. With `elapsed_working_days`, the
        two add up to the limit on any day from acceptance to the due day."""
        if today <= due:
            return self.working_days_between(today, due)
        return -self.working_days_between(due, today)

    def deadline(self, accepted_on: date, days: int, day_kind: DayKind) -> Deadline:
        """The due date of a limit of `days` counted from acceptance on `accepted_on`.

        Natural-day limits that end on a non-working day move to the next working day.
        """
        if day_kind is DayKind.WORKING:
            return self.add_working_days(accepted_on, days)
        if days < 0:
            raise ValueError("days must not be negative")
        day = accepted_on + timedelta(days=days)
        provisional = not self.is_known(day)
        while not self.is_working_day(day):
            day += _ONE_DAY
            provisional = provisional or not self.is_known(day)
        return Deadline(due=day, provisional=provisional)


def recompute(inputs: Iterable[DeadlineInput], calendar: WorkingCalendar) -> list[Deadline]:
    """The deadlines of `inputs` on `calendar` as it is now, in the same order: after a
    new year's notice is loaded, provisional deadlines move to their official date and
    lose the mark. Pure: persisting and announcing the changes is the caller's job."""
    return [calendar.deadline(item.accepted_on, item.days, item.day_kind) for item in inputs]


def default_calendar(extra_notices: Path | None = None) -> WorkingCalendar:
    """chinesecalendar, overridden by the notices shipped in data/calendar/ and then by
    those in `extra_notices` (the operators' directory, ONCEONLY_CALENDAR_DIR)."""
    calendar = WorkingCalendar()
    calendar.load_notices(shipped_notices())
    if extra_notices is not None:
        calendar.load_notices(load_notices_from(extra_notices))
    return calendar


def _main(argv: list[str]) -> int:
    """`python -m onceonly.catalogue.calendar YEAR "SOURCE"`: print YEAR's data file as
    chinesecalendar knows it (to check a hand-written notice or write a known year)."""
    if len(argv) != 2 or not argv[0].isdigit():
        print('usage: python -m onceonly.catalogue.calendar YEAR "notice title and number"')
        return 2
    sys.stdout.write(library_notice_yaml(int(argv[0]), argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
