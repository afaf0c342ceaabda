"""The clocks of a 12345 hotline work order: sign for it within working hours, then
handle it and reply within working days; each reopening starts both again.

Pure: the calendar, the limits and every instant are given. Limits are data: defaults
per kind below, overridden per region (and kind) by the workflow's settings
(`ONCEONLY_WORK_ORDER_LIMITS`). A working hour is an hour of office time (09:00-17:00,
China Standard Time) on a working day of the calendar, so that an order filed on Friday
evening is due for signing on Monday morning, not on Saturday.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar

OFFICE_OPENS = time(9, 0)
OFFICE_CLOSES = time(17, 0)
_OFFICE_DAY = timedelta(hours=8)


class WorkOrderKind(StrEnum):
    COMPLAINT = "complaint"  # 投诉
    CONSULTATION = "consultation"  # 咨询
    REQUEST = "request"  # 求助 / 诉求


class ClockName(StrEnum):
    SIGN = "sign"
    REPLY = "reply"


@dataclass(frozen=True)
class WorkOrderLimits:
    """How long a department has: `sign_hours` working hours to sign for an order,
    `reply_days` working days to handle it and reply; yellow once `yellow_share` of a
    limit has elapsed."""

    sign_hours: int
    reply_days: int
    yellow_share: float = 0.5


# Sensible defaults (the common 12345 practice: sign the same working day, answer a
# consultation in a day, a complaint in five and a request for help in ten).
DEFAULT_LIMITS: Mapping[WorkOrderKind, WorkOrderLimits] = {
    WorkOrderKind.COMPLAINT: WorkOrderLimits(sign_hours=4, reply_days=5),
    WorkOrderKind.CONSULTATION: WorkOrderLimits(sign_hours=2, reply_days=1),
    WorkOrderKind.REQUEST: WorkOrderLimits(sign_hours=4, reply_days=10),
}

# region code -> kind (or "*" for every kind) -> partial limits
LimitOverrides = Mapping[str, Mapping[str, Mapping[str, float]]]


def limits_for(
    kind: WorkOrderKind, region_code: str, overrides: LimitOverrides | None = None
) -> WorkOrderLimits:
    """The limits of `kind` in `region_code`: the default, then the region's `*`
    override, then the region's override for the kind."""
    limits = DEFAULT_LIMITS[kind]
    region = (overrides or {}).get(region_code, {})
    for key in ("*", kind.value):
        change = region.get(key)
        if change:
            limits = replace(
                limits,
                **{
                    name: (float(value) if name == "yellow_share" else int(value))
                    for name, value in change.items()
                },
            )
    return limits


def validate_overrides(raw: object) -> LimitOverrides:
    """Refuse (ValueError) an override table that names an unknown kind or limit, or a
    limit that is not positive."""
    if not isinstance(raw, dict):
        raise ValueError("work order limits must be an object of regions")
    kinds = {"*", *(kind.value for kind in WorkOrderKind)}
    names = {"sign_hours", "reply_days", "yellow_share"}
    for region, by_kind in raw.items():
        if not isinstance(by_kind, dict):
            raise ValueError(f"work order limits of {region}: an object of kinds")
        for kind, change in by_kind.items():
            if kind not in kinds or not isinstance(change, dict):
                raise ValueError(f"work order limits of {region}: unknown kind {kind!r}")
            for name, value in change.items():
                if name not in names or not isinstance(value, int | float) or value <= 0:
                    raise ValueError(f"work order limits of {region}.{kind}: bad {name!r}")
                if name == "yellow_share" and value >= 1:
                    raise ValueError(f"work order limits of {region}.{kind}: share below 1")
    return raw


def _local(instant: datetime) -> datetime:
    return instant.astimezone(CHINA_STANDARD_TIME)


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at, CHINA_STANDARD_TIME)


def add_working_hours(calendar: WorkingCalendar, start: datetime, hours: float) -> datetime:
    """The instant `hours` of office time after `start` (UTC): time outside office hours
    and non-working days does not count; 0 hours from outside office hours is the next
    opening."""
    if hours < 0:
        raise ValueError("hours must not be negative")
    now = _local(start)
    remaining = timedelta(hours=hours)
    while True:
        day = now.date()
        if not calendar.is_working_day(day) or now >= _at(day, OFFICE_CLOSES):
            now = _at(calendar.next_working_day(day + timedelta(days=1)), OFFICE_OPENS)
            continue
        now = max(now, _at(day, OFFICE_OPENS))
        left_today = _at(day, OFFICE_CLOSES) - now
        if remaining <= left_today:
            return (now + remaining).astimezone(UTC)
        remaining -= left_today
        now = _at(day, OFFICE_CLOSES)


def _end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA_STANDARD_TIME).astimezone(UTC)


@dataclass(frozen=True)
class RoundClocks:
    """The deadlines of one round (round 1 from filing, one more per reopening)."""

    round: int
    sign_hours: int
    reply_days: int
    sign_due_at: datetime
    sign_yellow_at: datetime
    reply_due_at: datetime
    reply_yellow_at: datetime


def round_clocks(
    calendar: WorkingCalendar, limits: WorkOrderLimits, *, started_at: datetime, round: int
) -> RoundClocks:
    """Both clocks of a round started at `started_at`: the sign-for deadline after
    `sign_hours` working hours, the reply deadline at the end of the `reply_days`-th
    working day after the start day (rule 1: counting starts the next working day)."""
    start_day = _local(started_at).date()
    reply_due_at = _end_of_day(calendar.add_working_days(start_day, limits.reply_days).due)
    yellow_days = min(int(limits.reply_days * limits.yellow_share), limits.reply_days - 1)
    # Yellow at the end of the working day by which the share has elapsed (never the
    # due day itself); within a one-day limit, once the share of the time has passed.
    reply_yellow_at = (
        _end_of_day(calendar.add_working_days(start_day, yellow_days).due)
        if yellow_days > 0
        else started_at + (reply_due_at - started_at) * limits.yellow_share
    )
    return RoundClocks(
        round=round,
        sign_hours=limits.sign_hours,
        reply_days=limits.reply_days,
        sign_due_at=add_working_hours(calendar, started_at, limits.sign_hours),
        sign_yellow_at=add_working_hours(
            calendar, started_at, limits.sign_hours * limits.yellow_share
        ),
        reply_due_at=reply_due_at,
        reply_yellow_at=reply_yellow_at,
    )
