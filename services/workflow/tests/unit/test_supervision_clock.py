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


LEGAL = DUE + timedelta(days=5)


def legal_clock() -> SupervisionClock:
    c = clock()
    c.legal_days, c.legal_due_at = 15, LEGAL
    return c


def test_a_clock_without_a_legal_deadline_never_goes_legal() -> None:
    c = clock()
    policy = EscalationPolicy(escalation_hours=24, max_escalations=30)
    c.raise_alert(Alert(YELLOW, Level.YELLOW, 0))
    c.raise_alert(Alert(DUE, Level.RED, 0))
    levels = set()
    while (alert := c.next_alert(policy)) is not None:
        levels.add(alert.level)
        c.raise_alert(alert)
    assert levels == {Level.RED}


def test_red_reminders_until_the_legal_deadline_then_legal_and_its_reminders() -> None:
    c = legal_clock()
    policy = EscalationPolicy(escalation_hours=24, max_escalations=30)
    c.raise_alert(Alert(YELLOW, Level.YELLOW, 0))
    c.raise_alert(Alert(DUE, Level.RED, 0))
    seen = []
    for _ in range(7):
        alert = c.next_alert(policy)
        assert alert is not None
        seen.append(alert)
        c.raise_alert(alert)
    day = timedelta(hours=24)
    assert seen == [
        Alert(DUE + day, Level.RED, 1),
        Alert(DUE + 2 * day, Level.RED, 2),
        Alert(DUE + 3 * day, Level.RED, 3),
        Alert(DUE + 4 * day, Level.RED, 4),
        # The legal deadline comes before (at the same time as) the fifth reminder.
        Alert(LEGAL, Level.LEGAL, 0),
        Alert(LEGAL + day, Level.LEGAL, 1),
        Alert(LEGAL + 2 * day, Level.LEGAL, 2),
    ]
    assert highest_level([clock(), c]) is Level.LEGAL


def test_the_legal_alert_comes_even_after_the_last_red_reminder() -> None:
    c = legal_clock()
    policy = EscalationPolicy(escalation_hours=24, max_escalations=1)
    c.raise_alert(Alert(DUE, Level.RED, 0))
    c.raise_alert(Alert(DUE + timedelta(hours=24), Level.RED, 1))
    assert c.next_alert(policy) == Alert(LEGAL, Level.LEGAL, 0)


def test_pauses_and_extensions_move_the_legal_deadline() -> None:
    c = legal_clock()
    c.move(DUE + timedelta(days=2), YELLOW, False, legal_due_at=LEGAL + timedelta(days=2))
    assert c.legal_due_at == LEGAL + timedelta(days=2)
    c.move(DUE, YELLOW, False)  # an older activity's answer: no legal deadline moved
    assert c.legal_due_at == LEGAL + timedelta(days=2)


def test_an_extension_past_now_brings_a_legal_clock_back_to_red_without_a_burst() -> None:
    c = legal_clock()
    policy = EscalationPolicy(escalation_hours=24, max_escalations=30)
    c.raise_alert(Alert(DUE, Level.RED, 0))
    c.raise_alert(Alert(LEGAL, Level.LEGAL, 0))
    now = LEGAL + timedelta(hours=1)
    # Extended by less than it is overdue: still red, the legal deadline ahead again.
    c.extend(
        DUE + timedelta(days=3),
        YELLOW + timedelta(days=3),
        False,
        now,
        legal_due_at=LEGAL + timedelta(days=3),
        policy=policy,
    )
    assert c.level is Level.RED
    # Two reminders of the new red were due already: the next is the third, ahead of now.
    assert c.next_alert(policy) == Alert(DUE + timedelta(days=6), Level.RED, 3)
    c.raise_alert(Alert(DUE + timedelta(days=6), Level.RED, 3))
    c.raise_alert(Alert(DUE + timedelta(days=7), Level.RED, 4))
    assert c.next_alert(policy) == Alert(LEGAL + timedelta(days=3), Level.LEGAL, 0)
    # Extended well past now: yellow or nothing, as for a red clock.
    c.extend(
        DUE + timedelta(days=30),
        YELLOW + timedelta(days=30),
        False,
        now,
        legal_due_at=LEGAL + timedelta(days=30),
        policy=policy,
    )
    assert c.level is Level.NONE
