"""The fold of approval events into intake's view of an application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.intake.approval_status import (
    ApprovalState,
    apply_approval_event,
    outstanding_materials,
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


def fold(*messages: Message, state: ApprovalState | None = None) -> ApprovalState:
    return reduce(
        lambda current, step: apply_approval_event(
            current, step[1], T0 + timedelta(minutes=step[0])
        ),
        enumerate(messages),
        state or ApprovalState(),
    )


def test_a_new_application_is_submitted_with_nothing_missing() -> None:
    state = ApprovalState()
    assert state.status == "submitted"
    assert outstanding_materials(state, set()) == ()


def test_a_supplement_request_lists_what_is_missing_until_acceptance() -> None:
    asked = fold(accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a", "b"))
    assert asked.status == "supplement_requested"
    assert asked.missing_materials == ("a", "b")
    assert asked.missing_since == T0
    assert outstanding_materials(asked, {"a"}) == ("b",)

    done = fold(accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED), state=asked)
    assert done.status == "accepted"
    assert done.missing_materials == () and done.missing_since is None
    assert done.clock is not None and done.clock["committed_days"] == 3


def test_deficient_materials_stay_missing_after_acceptance_and_clear_on_completion() -> None:
    state = fold(accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY, "seal"))
    assert state.status == "accepted_with_deficiency"
    assert outstanding_materials(state, set()) == ("seal",)
    done = fold(
        approval_pb2.ApplicationCompleted(application_code=CODE, elicence_number="EL-1"),
        state=state,
    )
    assert done.status == "completed"
    assert done.elicence_number == "EL-1"
    assert outstanding_materials(done, set()) == ()


def test_department_tasks_carry_their_own_clock_and_decision() -> None:
    state = fold(
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
    fire, tax = state.tasks["fire"], state.tasks["tax"]
    assert fire["state"] == "supplement_requested"
    assert fire["reason"] == "请补充消防设计图"
    assert fire["clock"]["paused"] is True and fire["decided_at"]
    assert tax["state"] == "started" and tax["special_procedure"] == "hearing"
    assert tax["clock"]["committed_days"] == 1 and tax["clock"]["paused"] is True

    resumed = fold(
        approval_pb2.TaskStarted(
            application_code=CODE, department_code="fire", task_name="消防", clock=clock(10)
        ),
        approval_pb2.SpecialProcedureEnded(
            application_code=CODE, department_code="tax", kind="hearing", clock=clock(1)
        ),
        state=state,
    )
    assert resumed.tasks["fire"]["state"] == "started"
    assert resumed.tasks["fire"]["reason"] == "" and resumed.tasks["fire"]["decided_at"] is None
    assert resumed.tasks["tax"]["special_procedure"] is None


def test_finished_applications_and_tasks_never_reopen() -> None:
    state = fold(
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED),
        approval_pb2.TaskDecided(
            application_code=CODE,
            department_code="tax",
            outcome=approval_pb2.DECISION_OUTCOME_REJECTED,
            reason="欠税",
        ),
        approval_pb2.ApplicationRejected(application_code=CODE, reason="欠税"),
    )
    later = fold(
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED, "a"),
        approval_pb2.ApplicationCompleted(application_code=CODE),
        approval_pb2.TaskStarted(application_code=CODE, department_code="tax"),
        state=state,
    )
    assert later.status == "rejected" and later.reason == "欠税"
    assert later.missing_materials == ()
    assert later.tasks["tax"]["state"] == "rejected"
    assert later.last_event_at == T0 + timedelta(minutes=2)


def test_acceptance_does_not_go_back_to_submitted_nor_refusal_lose_its_reason() -> None:
    refused = fold(
        accepted(
            approval_pb2.ACCEPTANCE_OUTCOME_REFUSED, "housing-proof", reason="补正材料逾期未提交"
        )
    )
    assert refused.status == "refused"
    assert refused.reason == "补正材料逾期未提交"
    # What was missing stays visible: it is why the application was refused.
    assert outstanding_materials(refused, set()) == ("housing-proof",)


def test_events_that_are_not_approval_steps_change_only_the_time() -> None:
    submitted = application_pb2.ApplicationSubmitted(application_code=CODE)
    state = fold(
        submitted,
        approval_pb2.TaskAssigned(application_code=CODE, department_code="tax", assignee="s1"),
    )
    assert state.status == "submitted" and state.tasks == {}
    assert state.last_event_at == T0 + timedelta(minutes=1)


def test_a_naive_event_time_is_taken_as_utc() -> None:
    state = apply_approval_event(
        ApprovalState(),
        accepted(approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED),
        datetime(2025, 3, 3, 1, 0),
    )
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
    state = fold(waiting)
    assert state.clock is not None
    assert (state.clock["due_at"], state.clock["started_at"]) == (None, None)
