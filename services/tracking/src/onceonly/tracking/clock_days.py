"""Actual days a clock ran, counted the way the workflow counts its limits.

A limit of N working days ends on the N-th working day after the start day (the start
day never counts), and a pause moves the deadline by the working days it took (natural
days for a natural-day clock); dates are China Standard Time. So the days a unit
actually used are the working days from its start date to its finish date, less the
working days of its pauses: finished within its limit exactly when this is at most the
committed days (for natural-day limits, one that ended on a weekend and moved to the
next working day can show one day over).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar

NATURAL = "natural"

Interval = tuple[datetime, datetime]


def china_date(instant: datetime) -> date:
    return instant.astimezone(CHINA_STANDARD_TIME).date()


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined (an application's clock stands still
    while any of its tasks' clocks does: their pauses may overlap)."""
    result: list[Interval] = []
    for since, until in sorted(i for i in intervals if i[1] > i[0]):
        if result and since <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], until))
        else:
            result.append((since, until))
    return result


def days_between(start: date, end: date, *, day_kind: str, calendar: WorkingCalendar) -> int:
    """Days in (start, end]: working days unless the clock counts natural days."""
    if day_kind == NATURAL:
        return max(0, (end - start).days)
    return calendar.working_days_between(start, end)


def actual_days(
    started: datetime,
    finished: datetime,
    pauses: Iterable[Interval],
    *,
    day_kind: str,
    calendar: WorkingCalendar,
) -> int:
    """Days the clock used from `started` to `finished`, its pauses' days left out."""
    used = days_between(
        china_date(started), china_date(finished), day_kind=day_kind, calendar=calendar
    )
    for since, until in merged(pauses):
        used -= days_between(
            china_date(since), china_date(until), day_kind=day_kind, calendar=calendar
        )
    return max(0, used)


def pauses_of(intervals: Iterable[dict[str, str]]) -> list[Interval]:
    """The closed pauses of a task as the status projection keeps them."""
    found: list[Interval] = []
    for interval in intervals:
        since, until = interval.get("from"), interval.get("to")
        if since and until:
            found.append((datetime.fromisoformat(since), datetime.fromisoformat(until)))
    return found


def task_clock(
    task: dict[str, Any], *, now: datetime, calendar: WorkingCalendar, finished: bool
) -> dict[str, Any]:
    """A task's clock as of `now`, from the projection's task: days used so far (to its
    decision when `finished`), days left of the committed limit (negative when over,
    None without a limit), in the clock's own kind of days; an open pause counts as a
    pause up to now."""
    day_kind = task.get("day_kind") or "working"
    started = task.get("started_at")
    if not started:
        return {"elapsed_days": None, "days_left": None, "day_kind": day_kind}
    end = now
    if finished and task.get("decided_at"):
        end = datetime.fromisoformat(task["decided_at"])
    pauses = pauses_of(task.get("paused_intervals", []))
    if task.get("paused") and task.get("paused_since"):
        pauses.append((datetime.fromisoformat(task["paused_since"]), end))
    used = actual_days(
        datetime.fromisoformat(started), end, pauses, day_kind=day_kind, calendar=calendar
    )
    committed = task.get("committed_days")
    return {
        "elapsed_days": used,
        "days_left": committed - used if committed else None,
        "day_kind": day_kind,
    }
