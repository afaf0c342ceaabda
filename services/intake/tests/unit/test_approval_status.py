"""The approval library's fold as intake folds and stores it (intake's adapter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import get_args

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.approval import ApplicationState, ApprovalStatus, TaskState, fold
from onceonly.events.v1 import application_pb2, approval_pb2, notification_pb2
from onceonly.intake.approval_status import (
    NOT_EXAMINED,
    Status,
    TaskStatus,
    clock_json,
    outstanding_materials,
    stored_status,
    tasks_json,
)

CODE = "330100-20250303-0004276"
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def clock(days: int, *, paused: bool = False) -> approval_pb2.Clock:
    due = Timestamp()
    due.FromDatetime(T0 + timedelta(days=days))
    return approval_pb2.Clock(committed_days=days, day_kind="working", due_at=due, paused=paused)


def accepted(outcome: int, *missing: str, reason: str = "") -> approval_pb2.ApplicationAccepted:
    return approval_pb2.ApplicationAccepted(
        application_code=CODE,
        outcome=outcome,  # type: ignore[arg-type]
        missing_materials=list(missing),
        reason=reason,
        clock=clock(3),
    )


def folded(*messages: Message, state: ApprovalStatus | None = None) -> ApprovalStatus:
    """The events folded a minute apart, each through intake's table (stored and read
    back, as the approval follower does)."""
    return reduce(
        lambda current, step: stored(fold(current, step[1], at=T0 + timedelta(minutes=step[0]))),
        enumerate(messages),
        state or NOT_EXAMINED,
    )


def stored(state: ApprovalStatus) -> ApprovalStatus:
    """`state` after a round trip through the columns of intake.approval_status."""
    return stored_status(
        status=state.state.value,
        reason=state.reason,
        missing_materials=state.missing_materials,
        missing_since=state.missing_since,
        clock=clock_json(state.clock),
        tasks=tasks_json(state),
        elicence_number=state.elicence_number,
        last_event_at=state.last_event_at,
    )


def task(state: ApprovalStatus, department: str) -> dict:
    """The department's task as intake stores it."""
    return tasks_json(state)[department]


def test_the_openapi_names_are_the_librarys() -> None:
    assert set(get_args(Status)) == {s.value for s in ApplicationState} - {"unknown"}
    assert set(get_args(TaskStatus)) == {s.value for s in TaskState}


def test_a_new_application_is_submitted_with_nothing_missing() -> None:
    state = NOT_EXAMINED
    assert state.state == "submitted"
    assert outstanding_materials(state, set()) == ()


def test_a_supplement_request_lists_what_is_missing_until_acceptance() -> None:
    asked = folded(accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a", "b"))
    assert asked.state == "supplement_requested"
    assert asked.missing_materials == ("a", "b")
    assert asked.missing_since == T0
    assert outstanding_materials(asked, {"a"}) == ("b",)

    done = folded(accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED), state=asked)
    assert done.state == "accepted"
    assert done.missing_materials == () and done.missing_since is None
    assert done.clock is not None and done.clock.committed_days == 3


def test_deficient_materials_stay_missing_after_acceptance_and_clear_on_completion() -> None:
    state = folded(accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY, "seal"))
    assert state.state == "accepted_with_deficiency"
    assert outstanding_materials(state, set()) == ("seal",)
    done = folded(
        approval_pb2.ApplicationCompleted(application_code=CODE, elicence_number="EL-1"),
        state=state,
    )
    assert done.state == "completed"
    assert done.elicence_number == "EL-1"
    assert outstanding_materials(done, set()) == ()


def test_department_tasks_carry_their_own_clock_and_decision() -> None:
    state = folded(
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED),
        approval_pb2.TaskStarted(
            application_code=CODE, department_code="tax", task_name="发票", clock=clock(1)
        ),
        approval_pb2.TaskStarted(
            application_code=CODE, department_code="fire", task_name="消防", clock=clock(10)
        ),
        approval_pb2.TaskDecided(
            application_code=CODE,
            department_code="fire",
            outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            reason="请补充消防设计图",
            clock=clock(10, paused=True),
        ),
        approval_pb2.SpecialProcedureStarted(
            application_code=CODE,
            department_code="tax",
            kind="hearing",
            clock=clock(1, paused=True),
        ),
    )
    fire, tax = task(state, "fire"), task(state, "tax")
    assert fire["state"] == "supplement_requested"
    assert fire["reason"] == "请补充消防设计图"
    assert fire["clock"]["paused"] is True and fire["decided_at"]
    assert tax["state"] == "started" and tax["special_procedure"] == "hearing"
    assert tax["clock"]["committed_days"] == 1 and tax["clock"]["paused"] is True

    resumed = folded(
        approval_pb2.TaskStarted(
            application_code=CODE, department_code="fire", task_name="消防", clock=clock(10)
        ),
        approval_pb2.SpecialProcedureEnded(
            application_code=CODE, department_code="tax", kind="hearing", clock=clock(1)
        ),
        state=state,
    )
    assert task(resumed, "fire")["state"] == "started"
    assert task(resumed, "fire")["reason"] == "" and task(resumed, "fire")["decided_at"] is None
    assert task(resumed, "tax")["special_procedure"] is None


def test_finished_applications_and_tasks_never_reopen() -> None:
    state = folded(
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED),
        approval_pb2.TaskDecided(
            application_code=CODE,
            department_code="tax",
            outcome=approval_pb2.DECISION_OUTCOME_REJECTED,
            reason="欠税",
        ),
        approval_pb2.ApplicationRejected(application_code=CODE, reason="欠税"),
    )
    later = folded(
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a"),
        approval_pb2.ApplicationCompleted(application_code=CODE),
        approval_pb2.TaskStarted(application_code=CODE, department_code="tax"),
        state=state,
    )
    assert later.state == "rejected" and later.reason == "欠税"
    assert later.missing_materials == ()
    assert task(later, "tax")["state"] == "rejected"
    assert later.last_event_at == T0 + timedelta(minutes=2)


def test_acceptance_does_not_go_back_to_submitted_nor_refusal_lose_its_reason() -> None:
    refused = folded(
        accepted(
            approval_pb2.ACCEPTANCE_OUTCOME_REFUSED, "housing-proof", reason="补正材料逾期未提交"
        )
    )
    assert refused.state == "refused"
    assert refused.reason == "补正材料逾期未提交"
    # What was missing stays visible: it is why the application was refused.
    assert outstanding_materials(refused, set()) == ("housing-proof",)


def test_events_that_are_not_approval_steps_change_only_the_time() -> None:
    submitted = application_pb2.ApplicationSubmitted(application_code=CODE)
    notified = notification_pb2.NotificationSent(application_code=CODE)
    state = folded(submitted, notified)
    assert state.state == "submitted" and state.tasks == {}
    assert state.last_event_at == T0 + timedelta(minutes=1)


def test_an_assignment_names_an_open_task_as_started() -> None:
    # Any event of a department's task names the task (the approval library's rule);
    # on the one ordered topic the task's start comes before its assignment anyway.
    assigned = approval_pb2.TaskAssigned(
        application_code=CODE, department_code="tax", assignee="s1"
    )
    state = folded(assigned)
    assert state.state == "submitted"
    assert task(state, "tax")["state"] == "started" and task(state, "tax")["task_name"] == ""


def test_a_naive_event_time_is_taken_as_utc() -> None:
    naive = datetime(2025, 3, 3, 1, 0)
    state = fold(NOT_EXAMINED, accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED), at=naive)
    assert state.last_event_at == T0


def test_a_clock_without_a_deadline_yet_shows_none_not_1970() -> None:
    # While acceptance waits for a supplement the workflow sends empty Timestamps.
    waiting = approval_pb2.ApplicationAccepted(
        application_code=CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing_materials=["seal-specimen"],
        clock=approval_pb2.Clock(
            committed_days=3, due_at=Timestamp(), started_at=Timestamp(), paused=True
        ),
    )
    state = folded(waiting)
    assert state.clock is not None
    assert (state.clock.due_at, state.clock.started_at) == (None, None)
    assert clock_json(state.clock)["due_at"] is None
