from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.approval import ApplicationState as State
from onceonly.events.v1 import approval_pb2
from onceonly.tracking.status import ApplicationStatus, apply_event, status_json

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


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


def test_a_one_department_application_from_submission_to_completion(events) -> None:
    code = events.code()
    state = fold(code, [events.submitted(code)])
    assert state.state == State.SUBMITTED
    assert state.matter_code == "household-transfer"

    state = fold(code, [events.accepted(code), events.task_started(code)], state)
    assert state.state == State.ACCEPTED
    task = tasks(state)["public-security"]
    assert task["state"] == "started"
    assert task["task_name"] == "户籍迁移审核"
    assert task["due_at"] == "2025-03-13T09:00:00.000000+00:00"

    state = fold(code, [events.task_decided(code), events.completed(code)], state)
    assert state.state == State.COMPLETED
    assert tasks(state)["public-security"]["state"] == "approved"
    assert tasks(state)["public-security"]["decided_at"]
    view = status_json(state)
    assert view["status"] == "completed"
    assert view["last_event_at"] == "2025-03-03T09:01:00.000000+00:00"


def test_acceptance_outcomes(events) -> None:
    code = events.code()
    cases = {
        approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: State.ACCEPTED,
        approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: State.ACCEPTED_WITH_DEFICIENCY,
        approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: State.SUPPLEMENT_REQUESTED,
        approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: State.REFUSED,
    }
    for outcome, expected in cases.items():
        state = fold(code, [events.submitted(code), events.accepted(code, outcome=outcome)])
        assert state.state == expected
    # A supplement request followed by acceptance moves on.
    state = fold(
        code,
        [
            events.accepted(code, outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED),
            events.accepted(code),
        ],
    )
    assert state.state == State.ACCEPTED


def test_a_submission_recorded_after_its_acceptance_does_not_go_back(events) -> None:
    code = events.code()
    state = fold(code, [events.accepted(code), events.submitted(code)])
    assert state.state == State.ACCEPTED


def test_finished_applications_stay_finished(events) -> None:
    code = events.code()
    rejected = approval_pb2.ApplicationRejected(application_code=code, matter_code="m")
    withdrawn = approval_pb2.ApplicationWithdrawn(application_code=code)
    assert fold(code, [events.submitted(code), rejected, withdrawn]).state == State.REJECTED
    assert fold(code, [events.submitted(code), withdrawn, rejected]).state == State.WITHDRAWN
    assert fold(code, [withdrawn, events.submitted(code), events.accepted(code)]).state == (
        State.WITHDRAWN
    )


def test_tasks_per_department(events) -> None:
    code = events.code()
    cancelled = approval_pb2.TaskCancelled(
        application_code=code, department_code="tax", reason="another department rejected"
    )
    state = fold(
        code,
        [
            events.task_started(code, "market-regulation"),
            events.task_started(code, "tax"),
            events.task_decided(
                code,
                "market-regulation",
                outcome=approval_pb2.DECISION_OUTCOME_REJECTED,
                reason="名称不合规",
            ),
            cancelled,
            events.task_started(code, "tax"),  # too late: a cancelled task stays cancelled
        ],
    )
    assert tasks(state)["market-regulation"]["state"] == "rejected"
    assert tasks(state)["market-regulation"]["reason"] == "名称不合规"
    assert tasks(state)["tax"]["state"] == "cancelled"


def test_a_task_resumes_after_a_supplement_request_keeping_its_start(events) -> None:
    code = events.code()
    state = fold(
        code,
        [
            events.task_started(code),
            events.task_decided(
                code, outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED, reason="缺照片"
            ),
        ],
    )
    task = tasks(state)["public-security"]
    assert task["state"] == "supplement_requested"
    first_start = task["started_at"]
    state = apply_event(
        state,
        application_code=code,
        message=events.task_started(code),
        time=T0 + timedelta(days=2),
    )
    task = tasks(state)["public-security"]
    assert task["state"] == "started"
    assert task["started_at"] == first_start
    assert "reason" not in task and "decided_at" not in task


def test_unrelated_events_only_move_the_last_event_time(events) -> None:
    code = events.code()
    state = apply_event(None, application_code=code, message=events.notification(code), time=T0)
    assert state.state == State.UNKNOWN
    assert state.tasks == {}
    earlier = apply_event(
        state,
        application_code=code,
        message=events.notification(code),
        time=T0 - timedelta(hours=1),
    )
    assert earlier.last_event_at == T0
    naive = apply_event(
        state,
        application_code=code,
        message=events.notification(code),
        time=datetime(2025, 3, 4, 0, 0),
    )
    assert naive.last_event_at == datetime(2025, 3, 4, tzinfo=UTC)


def test_a_clock_without_a_deadline_yet_has_no_due_date_not_1970(events) -> None:
    # While acceptance waits for a supplement the workflow sends an empty Timestamp.
    code = events.code()
    waiting = approval_pb2.ApplicationAccepted(
        application_code=code,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing_materials=["seal-specimen"],
        clock=approval_pb2.Clock(committed_days=3, due_at=Timestamp(), paused=True),
    )
    state = fold(code, [events.submitted(code), waiting])
    assert state.state == State.SUPPLEMENT_REQUESTED
    assert state.due_at is None
    assert status_json(state)["due_at"] is None


def test_a_provisional_task_deadline_is_marked_until_a_final_one_replaces_it(events) -> None:
    code = events.code()
    started = events.task_started(code)
    started.clock.provisional = True  # past the published holiday calendar: an estimate
    state = fold(code, [events.submitted(code), events.accepted(code), started])
    assert tasks(state)["public-security"]["provisional"] is True
    # An extension carries the clock computed again, now on a published calendar.
    extended = approval_pb2.ExtensionDecided(
        application_code=code,
        department_code="public-security",
        approved=True,
        days=5,
        clock=approval_pb2.Clock(
            committed_days=10,
            day_kind="natural",
            due_at=Timestamp(seconds=int((T0 + timedelta(days=15)).timestamp())),
        ),
    )
    state = fold(code, [extended], state)
    assert tasks(state)["public-security"]["due_at"] == "2025-03-18T09:00:00.000000+00:00"
    assert "provisional" not in tasks(state)["public-security"]
