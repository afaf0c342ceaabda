"""Supervision level, paused flag and due time on the status projection."""

from datetime import UTC, datetime, timedelta

from onceonly.events.v1 import approval_pb2
from onceonly.tracking.status import ApplicationStatus, apply_event, status_json

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RAISED = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)


def tasks(state: ApplicationStatus) -> dict:
    """The tasks as tracking stores and shows them."""
    return status_json(state)["tasks"]


def fold(code: str, messages, start: ApplicationStatus | None = None) -> ApplicationStatus:
    state = start
    for index, message in enumerate(messages):
        state = apply_event(
            state, application_code=code, message=message, time=T0 + timedelta(minutes=index)
        )
    assert state is not None
    return state


def test_an_alert_marks_the_task_and_the_application_until_the_decision(events) -> None:
    code = events.code()
    state = fold(code, [events.submitted(code), events.accepted(code), events.task_started(code)])
    assert state.supervision_level == "none"
    assert state.paused is False

    state = fold(code, [events.alert(code, level=2, seconds_left=7200, raised_at=RAISED)], state)
    task = tasks(state)["public-security"]
    assert task["supervision_level"] == "yellow"
    assert task["seconds_left"] == 7200
    assert state.supervision_level == "yellow"

    later = RAISED + timedelta(days=3)
    state = fold(code, [events.alert(code, level=3, seconds_left=-3600, raised_at=later)], state)
    assert state.supervision_level == "red"
    assert status_json(state)["supervision_level"] == "red"

    state = fold(code, [events.task_decided(code)], state)
    assert tasks(state)["public-security"]["supervision_level"] == "none"
    assert state.supervision_level == "none"


def test_an_alert_recorded_after_the_decision_it_preceded_is_ignored(events) -> None:
    code = events.code()
    decided = events.task_decided(code, outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED)
    # Decided at T0+1min (fold time); the alert was raised a minute before that.
    state = fold(code, [events.task_started(code), decided])
    assert state.paused is True
    stale = events.alert(code, level=3, raised_at=T0 + timedelta(seconds=30))
    state = fold(code, [stale], state)
    assert tasks(state)["public-security"]["supervision_level"] == "none"
    assert state.supervision_level == "none"

    # Resumed: the clock runs again and a fresh alert counts.
    state = apply_event(
        state,
        application_code=code,
        message=events.task_started(code),
        time=T0 + timedelta(hours=1),
    )
    assert state.paused is False
    fresh = events.alert(code, level=2, raised_at=T0 + timedelta(hours=2))
    state = fold(code, [fresh], state)
    assert state.supervision_level == "yellow"


def test_an_older_alert_does_not_replace_a_newer_one(events) -> None:
    code = events.code()
    red = events.alert(code, level=3, raised_at=RAISED + timedelta(days=1))
    yellow = events.alert(code, level=2, raised_at=RAISED)
    state = fold(code, [events.task_started(code), red, yellow])
    assert state.supervision_level == "red"


def test_the_applications_own_clock(events) -> None:
    code = events.code()
    state = fold(code, [events.submitted(code), events.accepted(code)])
    own = events.alert(code, department="", level=3, seconds_left=-60, raised_at=RAISED)
    state = fold(code, [own], state)
    assert status_json(state)["supervision"] == {
        "level": "red",
        "escalation": 0,
        "seconds_left": -60,
        "alert_raised_at": "2025-03-11T09:00:00.000000+00:00",
        "due_at": "2025-03-11T08:59:00.000000+00:00",
    }
    assert status_json(state)["due_at"] == "2025-03-11T08:59:00.000000+00:00"
    assert state.supervision_level == "red"
    assert state.tasks == {}
    # A finished application has no open alert.
    state = fold(code, [events.completed(code)], state)
    assert state.supervision_level == "none"


def test_a_supplement_requested_at_intake_pauses_the_application(events) -> None:
    code = events.code()
    outcome = approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED
    state = fold(code, [events.submitted(code), events.accepted(code, outcome=outcome)])
    assert state.paused is True
