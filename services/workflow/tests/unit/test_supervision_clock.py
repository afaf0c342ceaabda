"""The pure supervision clock: holds, pauses, alerts under a policy."""

from datetime import UTC, datetime, timedelta

from onceonly.workflow.supervision_clock import (
    Alert,
    EscalationPolicy,
    Hold,
    HoldCause,
    Level,
    Pause,
    SupervisionClock,
    highest_level,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DUE = T0 + timedelta(days=10)
YELLOW = T0 + timedelta(days=8)


def clock(key: str = "public-security") -> SupervisionClock:
    return SupervisionClock(key, 10, T0, DUE, YELLOW, provisional=False)


def test_alerts_go_yellow_then_red_then_remind_until_the_policy_stops() -> None:
    c = clock()
    policy = EscalationPolicy(escalation_hours=24, max_escalations=2)
    assert c.next_alert(policy) == Alert(YELLOW, Level.YELLOW, 0)
    c.raise_alert(Alert(YELLOW, Level.YELLOW, 0))
    assert c.next_alert(policy) == Alert(DUE, Level.RED, 0)
    c.raise_alert(Alert(DUE, Level.RED, 0))
    assert c.next_alert(policy) == Alert(DUE + timedelta(hours=24), Level.RED, 1)
    c.raise_alert(Alert(DUE + timedelta(hours=24), Level.RED, 1))
    assert c.next_alert(policy) == Alert(DUE + timedelta(hours=48), Level.RED, 2)
    c.raise_alert(Alert(DUE + timedelta(hours=48), Level.RED, 2))
    assert c.next_alert(policy) is None


def test_a_clock_runs_again_only_when_its_last_hold_ends() -> None:
    c = clock()
    supplement = Hold("public-security", HoldCause.SUPPLEMENT)
    special = Hold("public-security", HoldCause.SPECIAL_PROCEDURE)
    c.hold(supplement, T0 + timedelta(days=1))
    c.hold(special, T0 + timedelta(days=2))
    assert c.paused and c.paused_since == T0 + timedelta(days=1)
    c.release(HoldCause.SUPPLEMENT, T0 + timedelta(days=3))
    assert c.paused and not c.ended_pauses
    c.release(HoldCause.SPECIAL_PROCEDURE, T0 + timedelta(days=4))
    assert not c.paused
    assert c.ended_pauses == [Pause(T0 + timedelta(days=1), T0 + timedelta(days=4))]


def test_release_of_one_department_leaves_the_others_holds() -> None:
    application = clock("")
    application.hold(Hold("a", HoldCause.SUPPLEMENT), T0)
    application.hold(Hold("b", HoldCause.SUPPLEMENT), T0)
    application.release(HoldCause.SUPPLEMENT, T0 + timedelta(days=1), department_code="a")
    assert application.paused
    application.release(HoldCause.SUPPLEMENT, T0 + timedelta(days=2))
    assert not application.paused
    assert application.ended_pauses == [Pause(T0, T0 + timedelta(days=2))]


def test_releasing_a_cause_that_is_not_held_changes_nothing() -> None:
    c = clock()
    version = c.version
    c.release(HoldCause.SUPPLEMENT, T0)
    assert c.version == version and not c.ended_pauses


def test_a_pause_applied_is_kept_and_provisional_sticks_until_recomputed() -> None:
    c = clock()
    c.hold(Hold("public-security", HoldCause.SUPPLEMENT), T0)
    c.release(HoldCause.SUPPLEMENT, T0 + timedelta(days=2))
    pause = c.take_ended_pause()
    assert pause is not None and c.take_ended_pause() is None
    c.move(DUE + timedelta(days=2), YELLOW + timedelta(days=2), True, applied=pause)
    assert c.applied_pauses == [pause] and c.provisional
    c.move(DUE + timedelta(days=2), YELLOW + timedelta(days=2), False, applied=None)
    assert not c.provisional  # a recompute on a newer calendar gives the fresh answer
    assert c.due_at == DUE + timedelta(days=2)


def test_every_change_a_waiting_supervisor_must_see_bumps_the_version() -> None:
    c = clock()
    seen = {c.version}
    c.hold(Hold("public-security", HoldCause.SUPPLEMENT), T0)
    seen.add(c.version)
    c.release(HoldCause.SUPPLEMENT, T0 + timedelta(days=1))
    seen.add(c.version)
    c.move(DUE, YELLOW, False)
    seen.add(c.version)
    c.raise_alert(Alert(YELLOW, Level.YELLOW, 0))
    seen.add(c.version)
    assert len(seen) == 5


def test_highest_level() -> None:
    a, b = clock("a"), clock("b")
    assert highest_level([]) is Level.NONE
    b.raise_alert(Alert(YELLOW, Level.YELLOW, 0))
    assert highest_level([a, b]) is Level.YELLOW
    a.raise_alert(Alert(DUE, Level.RED, 0))
    assert highest_level([a, b]) is Level.RED
