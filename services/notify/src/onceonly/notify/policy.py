"""When a message may go out (pure): quiet hours for non-urgent messages and a per-recipient
rate limit on SMS. A message that may not go out now is deferred, never dropped; an
urgent one goes out at once whatever the hour or the count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME

HOUR = timedelta(hours=1)
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class DeferReason(StrEnum):
    QUIET_HOURS = "quiet_hours"
    RATE_LIMIT = "rate_limit"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in Beijing time, e.g. 22:00-08:00 (may cross midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """`"22:00-08:00"` → the window; `""` → None (no quiet hours)."""
        text = text.strip()
        if not text:
            return None
        first, sep, second = text.partition("-")
        matches = [_HH_MM.match(part.strip()) for part in (first, second)]
        if not sep or not all(matches):
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}")
        start, end = (time(int(m.group(1)), int(m.group(2))) for m in matches if m)
        if start == end:
            raise ValueError("quiet hours must not start and end at the same time")
        return cls(start, end)

    def end_of(self, now: datetime) -> datetime | None:
        """The instant the window ends if `now` falls in it, else None."""
        local = now.astimezone(CHINA_STANDARD_TIME)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= clock < self.end
        else:
            inside = clock >= self.start or clock < self.end
        if not inside:
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(now.tzinfo)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """No more than `per_hour` messages to one recipient in any hour (0: no limit)."""

    per_hour: int

    def free_at(self, at: datetime, recent: Sequence[datetime]) -> datetime | None:
        """When the next message may go out, if not at `at`: once enough of the sends of
        the past hour have left the window. `recent` are the times of earlier sends."""
        if self.per_hour <= 0:
            return None
        window = sorted(t for t in recent if at - HOUR < t <= at)
        if len(window) < self.per_hour:
            return None
        return window[len(window) - self.per_hour] + HOUR


@dataclass(frozen=True, slots=True)
class Deferral:
    until: datetime
    reason: DeferReason


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    quiet_hours: QuietHours | None = None
    sms_rate: RateLimit = RateLimit(0)
    # The channels the rate limit counts on (the "N SMS per hour to one number").
    rate_limited_channels: frozenset[str] = frozenset({"sms"})

    def counts_recent(self, channel: str, *, urgent: bool) -> bool:
        """Whether a decision on this channel depends on the recipient's recent sends
        (else `deferral` needs no `recent`, and no count has to be made atomic)."""
        return not urgent and self.sms_rate.per_hour > 0 and channel in self.rate_limited_channels

    def sends_at_once(self, now: datetime, *, channel: str, urgent: bool) -> bool:
        """Whether a message may go out at `now` whoever it is for: no count to make and
        no quiet hours to wait out (then opening its ledger row starts the send)."""
        if self.counts_recent(channel, urgent=urgent):
            return False
        return self.deferral(now, channel=channel, urgent=urgent, recent=()) is None

    def deferral(
        self, now: datetime, *, channel: str, urgent: bool, recent: Sequence[datetime]
    ) -> Deferral | None:
        """None to send now; else until when to wait and why. Iterates because the end
        of quiet hours may fall inside a full rate-limit window and vice versa."""
        if urgent:
            return None
        at, reason = now, None
        for _ in range(8):
            quiet = self.quiet_hours.end_of(at) if self.quiet_hours else None
            rate = (
                self.sms_rate.free_at(at, recent) if channel in self.rate_limited_channels else None
            )
            later = max((t for t in (quiet, rate) if t is not None), default=None)
            if later is None or later <= at:
                break
            reason = DeferReason.QUIET_HOURS if later == quiet else DeferReason.RATE_LIMIT
            at = later
        return Deferral(at, reason) if reason is not None and at > now else None
