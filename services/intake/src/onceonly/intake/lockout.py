"""Failure lockout of the progress lookup per application code, and the global budget of
failed lookups; pure rules, kept in Postgres by `lockout_store` so that every replica
sees the same counts.

Four digits are 10,000 guesses: a code accepts `max_failures` wrong answers within
`window`, then is locked for `lock`, during which even the right digits answer the same
404 as wrong ones, so a guesser learns nothing from its attempts while locked and cannot
tell a lock from a wrong guess. A lock starts a fresh count: after it ends, a guesser
has `max_failures` attempts again, i.e. about `max_failures` per lock period per code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutRule:
    max_failures: int
    window: timedelta
    lock: timedelta


@dataclass(frozen=True, slots=True)
class FailureState:
    """One code's wrong answers counted since `window_started`, and its lock, if any."""

    failures: int
    window_started: datetime
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def expires(self, rule: LockoutRule) -> datetime:
        """When the state no longer matters (the window and any lock are over)."""
        end = self.window_started + rule.window
        return max(end, self.locked_until) if self.locked_until is not None else end


def after_failure(state: FailureState | None, *, now: datetime, rule: LockoutRule) -> FailureState:
    """The state after one more wrong answer at `now`."""
    if state is not None and state.locked(now):
        # Attempts while locked neither count nor extend the lock (a guesser could
        # otherwise keep a code locked forever with one request per lock period).
        return state
    if state is None or now >= state.window_started + rule.window:
        state = FailureState(0, now)  # the window (or a lock) is over: count afresh
    failures = state.failures + 1
    if failures >= rule.max_failures:
        return FailureState(0, now, now + rule.lock)
    return FailureState(failures, state.window_started, None)


def window_start(now: datetime) -> datetime:
    """The minute the global budget of failed lookups counts `now` in."""
    return now.replace(second=0, microsecond=0)


def global_wait(failures_this_minute: int, *, now: datetime, per_minute: int) -> float | None:
    """None while the minute's budget lasts; else seconds until the next minute."""
    if failures_this_minute < per_minute:
        return None
    return (window_start(now) + timedelta(minutes=1) - now).total_seconds()
