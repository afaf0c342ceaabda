"""The clocks of the two kinds of supervision case: a rectification of a bad rating
(差评整改) and a supervision case (督办件) opened by the escalation of a red alert.

Pure: the calendar, the limits and every instant are given. Both count working days as
every limit does (rule 1: counting starts the working day after the start, and a limit
ends with its last day, China Standard Time).

- A rectification is due `limit_days` working days after the rating (default 15); yellow
  once `yellow_share` of those days has elapsed (at the end of that working day).
- A supervision case climbs levels: addressed first to the department head, then to the
  supervision office, each level with its own response clock (working days from the
  time the case reached it). The levels and their cadence are data (settings); the last
  level stays open until the department responds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar

# Who a supervision case is addressed to, in the order a case may climb.
ADDRESSEES = ("department_head", "supervision_office")
# Ratings that open a rectification: 1 very dissatisfied, 2 dissatisfied.
BAD_RATINGS = frozenset({1, 2})


def end_of(day: date) -> datetime:
    """The last second of `day`, China Standard Time (when a limit ending that day ends)."""
    return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME)


def working_deadline(calendar: WorkingCalendar, start: datetime, days: int) -> datetime:
    """The end of the `days`-th working day after the day of `start` (China time)."""
    start_day = start.astimezone(CHINA_STANDARD_TIME).date()
    return end_of(calendar.add_working_days(start_day, days).due)


def working_day_of(calendar: WorkingCalendar, start: datetime, at: datetime) -> int:
    """Which working day after the day of `start` the instant `at` falls on (1 is the first
    working day after it; 0 the start day itself, or a day off before the first)."""
    start_day = start.astimezone(CHINA_STANDARD_TIME).date()
    return calendar.working_days_between(start_day, at.astimezone(CHINA_STANDARD_TIME).date())


# -- rectification (差评整改) --------------------------------------------------------------


@dataclass(frozen=True)
class RectificationLimit:
    """How long a department has to answer a bad rating, and when it is warned."""

    days: int = 15
    yellow_share: float = 0.8

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ValueError("rectification days: at least 1")
        if not 0 < self.yellow_share < 1:
            raise ValueError("rectification yellow share: between 0 and 1")


@dataclass(frozen=True)
class RectificationDeadlines:
    due_at: datetime
    yellow_at: datetime


def rectification_deadlines(
    calendar: WorkingCalendar, limit: RectificationLimit, *, rated_at: datetime
) -> RectificationDeadlines:
    """Due at the end of the `days`-th working day after the rating; yellow at the end of
    the working day by which `yellow_share` of them has elapsed (never the due day)."""
    yellow_days = min(max(int(limit.days * limit.yellow_share), 1), limit.days - 1)
    due_at = working_deadline(calendar, rated_at, limit.days)
    yellow_at = (
        working_deadline(calendar, rated_at, yellow_days)
        if yellow_days > 0
        else rated_at + (due_at - rated_at) * limit.yellow_share
    )
    return RectificationDeadlines(due_at=due_at, yellow_at=yellow_at)


def answered_late(answered_at: datetime, due_at: datetime) -> bool:
    """An answer is on time until the end of its last day, inclusive."""
    return answered_at > due_at


def opens_rectification(rating_level: int) -> bool:
    return rating_level in BAD_RATINGS


# -- supervision cases (督办件) ------------------------------------------------------------


@dataclass(frozen=True)
class CaseLevel:
    addressee: str  # one of ADDRESSEES
    response_days: int  # working days to respond once the case is at this level


DEFAULT_CASE_LEVELS: tuple[CaseLevel, ...] = (
    CaseLevel("department_head", 3),
    CaseLevel("supervision_office", 5),
)


def case_levels(raw: object) -> tuple[CaseLevel, ...]:
    """The levels from their settings' JSON (a list of {"addressee", "response_days"}, in
    climbing order); ValueError naming what is wrong. No addressee twice, none unknown,
    at least one level, each at least one working day."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, list) or not data:
        raise ValueError("supervision case levels: a non-empty list of levels")
    levels: list[CaseLevel] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != {"addressee", "response_days"}:
            raise ValueError(
                f"supervision case level {index}: an object of addressee and response_days"
            )
        addressee, days = item["addressee"], item["response_days"]
        if addressee not in ADDRESSEES:
            raise ValueError(f"supervision case level {index}: unknown addressee {addressee!r}")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 60:
            raise ValueError(f"supervision case level {index}: response_days 1 to 60")
        if any(level.addressee == addressee for level in levels):
            raise ValueError(f"supervision case level {index}: {addressee} twice")
        levels.append(CaseLevel(addressee, days))
    return tuple(levels)


def next_level(levels: tuple[CaseLevel, ...] | list[CaseLevel], current: int) -> int | None:
    """The level (1-based) a case climbs to when level `current` is not answered in time;
    None at the last one (it stays there until the response)."""
    return current + 1 if current < len(levels) else None


def case_code(application_code: str, clock_key: str, occurrence: int) -> str:
    """The code of the `occurrence`-th case (from 1) of a clock of an application: the
    department's, or `A` for the application's own clock (deterministic: a replay names
    it the same)."""
    if occurrence < 1:
        raise ValueError("occurrences count from 1")
    return f"DB-{application_code}-{clock_key or 'A'}-{occurrence}"


def rectification_code(application_code: str) -> str:
    """The code of an application's rectification (one rating per application)."""
    return f"ZG-{application_code}"
