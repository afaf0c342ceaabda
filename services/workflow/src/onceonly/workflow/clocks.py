"""What a department's task list shows of a clock: the days left before its deadline.

Pure: the calendar, the matter's day kind and "now" are given.
"""

from __future__ import annotations

from datetime import date, datetime

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar
from onceonly.catalogue.model import DayKind

# Deadlines are dates in China Standard Time; a due_at instant falls on its due date there.


def local_date(instant: datetime) -> date:
    return instant.astimezone(CHINA_STANDARD_TIME).date()


def days_left(
    calendar: WorkingCalendar, day_kind: DayKind, due_at: str, now: datetime
) -> int | None:
    """Days of the matter's kind after today until the due date: 0 on the due day,
    negative (days overdue) after it; None when the task has no deadline."""
    if not due_at:
        return None
    due = local_date(datetime.fromisoformat(due_at))
    today = local_date(now)
    if day_kind is DayKind.WORKING:
        return calendar.remaining_working_days(today, due)
    return (due - today).days
