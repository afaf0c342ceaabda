"""The lockout arithmetic of the progress lookup and the global budget per minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from onceonly.intake.lockout import (
    FailureState,
    LockoutRule,
    after_failure,
    global_wait,
    window_start,
)

RULE = LockoutRule(max_failures=5, window=timedelta(minutes=15), lock=timedelta(minutes=30))
T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)


def fail(times: int, *, start: FailureState | None = None, every: timedelta) -> FailureState:
    state = start
    now = T0
    for _ in range(times):
        state = after_failure(state, now=now, rule=RULE)
        now += every
    assert state is not None
    return state


def test_four_failures_count_the_fifth_locks() -> None:
    four = fail(4, every=timedelta(seconds=10))
    assert four.failures == 4 and not four.locked(T0 + timedelta(seconds=40))
    fifth_at = T0 + timedelta(seconds=40)
    five = after_failure(four, now=fifth_at, rule=RULE)
    assert five.locked(fifth_at)
    assert five.locked_until == fifth_at + RULE.lock
    assert not five.locked(fifth_at + RULE.lock)  # the lock ends exactly then


def test_failures_spread_beyond_the_window_never_lock() -> None:
    state = fail(20, every=timedelta(minutes=4))  # at most 4 in any 15 minutes
    assert state.locked_until is None


def test_attempts_while_locked_neither_count_nor_extend_the_lock() -> None:
    locked = fail(5, every=timedelta(seconds=1))
    later = T0 + timedelta(minutes=10)
    assert after_failure(locked, now=later, rule=RULE) == locked


def test_after_the_lock_the_count_starts_again() -> None:
    locked = fail(5, every=timedelta(seconds=1))
    assert locked.locked_until is not None
    after = locked.locked_until + timedelta(seconds=1)
    state = after_failure(locked, now=after, rule=RULE)
    assert state == FailureState(1, after)


def test_a_lock_shorter_than_the_window_still_lets_only_max_failures_through() -> None:
    rule = LockoutRule(max_failures=3, window=timedelta(hours=1), lock=timedelta(minutes=1))
    state = None
    for second in range(3):
        state = after_failure(state, now=T0 + timedelta(seconds=second), rule=rule)
    assert state is not None and state.locked_until is not None
    resumed = state.locked_until
    for second in range(3):
        state = after_failure(state, now=resumed + timedelta(seconds=second), rule=rule)
    assert state.locked(resumed + timedelta(seconds=2))


def test_the_state_expires_after_its_window_and_its_lock() -> None:
    counting = FailureState(2, T0)
    assert counting.expires(RULE) == T0 + RULE.window
    locked = FailureState(0, T0, T0 + RULE.lock)
    assert locked.expires(RULE) == T0 + RULE.lock


@pytest.mark.parametrize(
    ("failures", "now", "wait"),
    [
        (59, T0 + timedelta(seconds=30), None),
        (60, T0 + timedelta(seconds=30), 30.0),
        (61, T0 + timedelta(seconds=59, microseconds=500_000), 0.5),
        (60, T0, 60.0),
    ],
)
def test_the_global_budget_per_minute(failures: int, now: datetime, wait: float | None) -> None:
    assert global_wait(failures, now=now, per_minute=60) == wait


def test_the_minute_window() -> None:
    assert window_start(T0 + timedelta(seconds=59, microseconds=1)) == T0
