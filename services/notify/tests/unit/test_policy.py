"""Quiet hours and the per-recipient rate limit (pure): deferred until allowed, urgent
messages never held back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.notify.policy import (
    DeferReason,
    DeliveryPolicy,
    QuietHours,
    RateLimit,
)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=CHINA_STANDARD_TIME)


NIGHT = QuietHours.parse("22:00-08:00")


@pytest.mark.parametrize(
    ("now", "end"),
    [
        (cst(5, 22, 0), cst(6, 8)),
        (cst(5, 23, 59), cst(6, 8)),
        (cst(6, 0, 30), cst(6, 8)),
        (cst(6, 7, 59), cst(6, 8)),
        (cst(6, 8, 0), None),
        (cst(6, 12, 0), None),
        (cst(5, 21, 59), None),
    ],
)
def test_quiet_hours_across_midnight_end_in_the_morning(
    now: datetime, end: datetime | None
) -> None:
    assert NIGHT is not None
    assert NIGHT.end_of(now) == end


def test_quiet_hours_are_beijing_time_whatever_the_clock_zone() -> None:
    assert NIGHT is not None
    # 15:00 UTC is 23:00 in Beijing: quiet until 08:00 Beijing = 00:00 UTC next day.
    now = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    assert NIGHT.end_of(now) == datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    assert NIGHT.end_of(now).tzinfo is UTC  # type: ignore[union-attr]


def test_a_daytime_window() -> None:
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch is not None
    assert lunch.end_of(cst(5, 12, 10)) == cst(5, 13, 30)
    assert lunch.end_of(cst(5, 13, 30)) is None
    assert lunch.end_of(cst(5, 11, 59)) is None


@pytest.mark.parametrize("text", ["22-08", "22:00", "25:00-08:00", "08:00-08:00", "x"])
def test_malformed_quiet_hours_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        QuietHours.parse(text)


def test_no_quiet_hours() -> None:
    assert QuietHours.parse("  ") is None


def test_rate_limit_frees_a_place_when_the_oldest_send_leaves_the_hour() -> None:
    limit = RateLimit(3)
    now = cst(5, 12)
    sends = [now - timedelta(minutes=m) for m in (50, 20, 5)]
    assert limit.free_at(now, sends[:2]) is None
    assert limit.free_at(now, sends) == now + timedelta(minutes=10)
    # Sends older than an hour do not count.
    assert limit.free_at(now, [now - timedelta(minutes=61), *sends[1:]]) is None


def test_rate_limit_over_the_limit_waits_for_enough_to_leave() -> None:
    # Urgent messages can take a number past its limit: then more must leave the hour.
    now = cst(5, 12)
    sends = [now - timedelta(minutes=m) for m in (50, 40, 30, 10)]
    assert RateLimit(2).free_at(now, sends) == now + timedelta(minutes=30)


def test_no_rate_limit() -> None:
    now = cst(5, 12)
    assert RateLimit(0).free_at(now, [now] * 100) is None


def test_policy_defers_non_urgent_only() -> None:
    policy = DeliveryPolicy(quiet_hours=NIGHT, sms_rate=RateLimit(1))
    night = cst(5, 23)
    deferral = policy.deferral(night, channel="sms", urgent=False, recent=[])
    assert deferral is not None
    assert (deferral.until, deferral.reason) == (cst(6, 8), DeferReason.QUIET_HOURS)
    assert policy.deferral(night, channel="sms", urgent=True, recent=[night]) is None
    noon = cst(5, 12)
    limited = policy.deferral(noon, channel="sms", urgent=False, recent=[noon])
    assert limited is not None
    assert (limited.until, limited.reason) == (cst(5, 13), DeferReason.RATE_LIMIT)
    # App push is not counted against the SMS limit, but keeps quiet hours.
    assert policy.deferral(noon, channel="app", urgent=False, recent=[noon]) is None
    assert policy.deferral(night, channel="app", urgent=False, recent=[]) is not None


def test_a_rate_limit_that_frees_inside_quiet_hours_waits_for_the_morning() -> None:
    policy = DeliveryPolicy(quiet_hours=NIGHT, sms_rate=RateLimit(1))
    evening = cst(5, 21, 30)
    deferral = policy.deferral(evening, channel="sms", urgent=False, recent=[evening])
    assert deferral is not None
    assert (deferral.until, deferral.reason) == (cst(6, 8), DeferReason.QUIET_HOURS)


def test_recent_sends_matter_only_for_a_rate_limited_channel_and_a_non_urgent_message() -> None:
    limited = DeliveryPolicy(sms_rate=RateLimit(3))
    assert limited.counts_recent("sms", urgent=False)
    assert not limited.counts_recent("sms", urgent=True)
    assert not limited.counts_recent("app", urgent=False)
    quiet_only = DeliveryPolicy(quiet_hours=QuietHours.parse("22:00-08:00"))
    assert not quiet_only.counts_recent("sms", urgent=False)
    # What the store relies on when it does not count: the decision ignores `recent`.
    at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # 11:00 in Beijing
    many = [at - timedelta(minutes=m) for m in range(1, 30)]
    assert quiet_only.deferral(at, channel="sms", urgent=False, recent=many) is None
