"""Assignments, special procedures (their time kept out of the clock) and ratings in the
status projection."""

from datetime import UTC, datetime, timedelta

from onceonly.approval import ApplicationState
from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.tracking.status import ApplicationStatus, apply_event, status_json

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DEPARTMENT = "public-security"
SUPPLEMENT = approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED


def tasks(state: ApplicationStatus) -> dict:
    """The tasks as tracking stores and shows them."""
    return status_json(state)["tasks"]


def fold(code: str, timed, start: ApplicationStatus | None = None) -> ApplicationStatus:
    """Fold (hours after T0, message) pairs."""
    state = start
    for hours, message in timed:
        state = apply_event(
            state, application_code=code, message=message, time=T0 + timedelta(hours=hours)
        )
    assert state is not None
    return state


def special(code: str, *, ended: bool, kind: str = "expert_review", paused: bool = False):
    kind_of = approval_pb2.SpecialProcedureEnded if ended else approval_pb2.SpecialProcedureStarted
    return kind_of(
        application_code=code,
        department_code=DEPARTMENT,
        kind=kind,
        clock=approval_pb2.Clock(committed_days=10, day_kind="natural", paused=paused),
    )


def assigned(code: str, assignee: str) -> approval_pb2.TaskAssigned:
    return approval_pb2.TaskAssigned(
        application_code=code, department_code=DEPARTMENT, assignee=assignee
    )


def test_an_assignment_names_the_reviewer_and_a_reassignment_replaces_it(events) -> None:
    code = events.code()
    state = fold(code, [(0, events.accepted(code)), (1, events.task_started(code))])
    state = fold(code, [(2, assigned(code, "officer-7"))], state)
    assert tasks(state)[DEPARTMENT]["assignee"] == "officer-7"
    state = fold(code, [(3, assigned(code, "officer-9"))], state)
    assert tasks(state)[DEPARTMENT]["assignee"] == "officer-9"
    assert tasks(state)[DEPARTMENT]["state"] == "started"
    # After the decision the task is closed: a late assignment changes nothing.
    state = fold(code, [(4, events.task_decided(code)), (5, assigned(code, "x"))], state)
    assert tasks(state)[DEPARTMENT]["assignee"] == "officer-9"


def test_a_special_procedure_stops_the_clock_and_its_interval_is_kept(events) -> None:
    code = events.code()
    state = fold(code, [(0, events.accepted(code)), (1, events.task_started(code))])
    state = fold(code, [(5, special(code, ended=False))], state)
    task = tasks(state)[DEPARTMENT]
    assert task["special_procedure"] == "expert_review"
    assert task["paused"] is True
    assert state.paused is True
    assert "paused_intervals" not in task

    state = fold(code, [(53, special(code, ended=True))], state)
    task = tasks(state)[DEPARTMENT]
    assert "special_procedure" not in task
    assert task["paused"] is False
    assert state.paused is False
    assert task["paused_intervals"] == [
        {
            "from": "2025-03-03T14:00:00.000000+00:00",
            "to": "2025-03-05T14:00:00.000000+00:00",
            "reason": "special_procedure:expert_review",
        }
    ]
    assert task["paused_seconds"] == 2 * 86400
    assert state.state == ApplicationState.ACCEPTED


def test_pauses_add_up_across_supplements_and_procedures(events) -> None:
    code = events.code()
    state = fold(
        code,
        [
            (0, events.accepted(code)),
            (1, events.task_started(code)),
            (2, events.task_decided(code, outcome=SUPPLEMENT)),
            (26, events.task_started(code)),  # resumed a day later
            (30, special(code, ended=False, kind="hearing")),
            (36, special(code, ended=True, kind="hearing")),
        ],
    )
    task = tasks(state)[DEPARTMENT]
    assert [(i["reason"], i["from"][11:16], i["to"][11:16]) for i in task["paused_intervals"]] == [
        ("supplement", "11:00", "11:00"),
        ("special_procedure:hearing", "15:00", "21:00"),
    ]
    assert task["paused_seconds"] == 86400 + 6 * 3600
    assert "paused_since" not in task
    assert task["started_at"] == "2025-03-03T10:00:00.000000+00:00"  # the first start


def test_an_end_without_a_start_or_a_second_start_changes_nothing(events) -> None:
    code = events.code()
    state = fold(code, [(0, events.accepted(code)), (1, events.task_started(code))])
    assert fold(code, [(2, special(code, ended=True))], state).tasks == state.tasks
    started = fold(code, [(2, special(code, ended=False))], state)
    again = fold(code, [(3, special(code, ended=False, kind="hearing"))], started)
    assert again.tasks == started.tasks


def test_the_clock_stays_paused_when_the_workflow_says_another_hold_remains(events) -> None:
    code = events.code()
    state = fold(
        code,
        [
            (0, events.accepted(code)),
            (1, events.task_started(code)),
            (2, special(code, ended=False)),
            (3, special(code, ended=True, paused=True)),
        ],
    )
    assert tasks(state)[DEPARTMENT]["paused"] is True


def test_the_latest_rating_is_kept_and_out_of_range_levels_ignored(events) -> None:
    code = events.code()
    state = fold(code, [(0, events.submitted(code))])
    assert status_json(state)["rating"] is None
    rate = application_pb2.RatingGiven
    state = fold(code, [(1, rate(application_code=code, level=2))], state)
    state = fold(code, [(2, rate(application_code=code, level=5))], state)
    state = fold(code, [(3, rate(application_code=code, level=9))], state)
    assert state.rating == 5
    assert status_json(state)["rating"] == 5
