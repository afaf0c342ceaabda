"""The steps an applicant is told of, and the supplement requests' deadlines the fold
keeps for the progress lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings

from onceonly.approval import RECENT_STEPS, ApprovalStatus, Step, StepKind, TaskState, fold
from onceonly.approval.steps import with_step
from onceonly.approval.testing import streams
from onceonly.events.v1 import application_pb2, approval_pb2

CODE = "330100-20250303-0004276"
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def folded(*timed: tuple[float, Message], status: ApprovalStatus | None = None) -> ApprovalStatus:
    status = status or ApprovalStatus(application_code=CODE)
    for hours, message in timed:
        status = fold(status, message, at=T0 + timedelta(hours=hours))
    return status


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def decided(department: str, outcome: int, *missing: str, due: datetime | None = None):
    message = approval_pb2.TaskDecided(
        application_code=CODE,
        department_code=department,
        outcome=outcome,  # type: ignore[arg-type]
        reason="张三的照片不清晰",
        missing_materials=list(missing),
    )
    if due is not None:
        message.supplement_due_at.CopyFrom(ts(due))
    return message


def started(department: str) -> approval_pb2.TaskStarted:
    return approval_pb2.TaskStarted(application_code=CODE, department_code=department)


ACCEPTED = approval_pb2.ApplicationAccepted(
    application_code=CODE, outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
)
SUPPLEMENT = approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED


def test_an_application_s_life_is_told_as_steps_in_order_without_reasons_or_staff() -> None:
    status = folded(
        (0, application_pb2.ApplicationSubmitted(application_code=CODE)),
        (1, ACCEPTED),
        (1, started("tax")),
        (1, started("fire")),
        (2, approval_pb2.TaskAssigned(application_code=CODE, department_code="tax", assignee="s1")),
        (3, decided("tax", approval_pb2.DECISION_OUTCOME_APPROVED)),
        (
            4,
            approval_pb2.SpecialProcedureStarted(
                application_code=CODE, department_code="fire", kind="hearing", note="王五"
            ),
        ),
        (5, approval_pb2.ExtensionDecided(application_code=CODE, department_code="fire")),
        (6, approval_pb2.ApplicationCompleted(application_code=CODE)),
    )
    assert status.steps == (
        Step(StepKind.SUBMITTED, at(0)),
        Step(StepKind.ACCEPTED, at(1)),
        Step(StepKind.TASK_STARTED, at(1), "tax"),
        Step(StepKind.TASK_STARTED, at(1), "fire"),
        Step(StepKind.TASK_APPROVED, at(3), "tax"),
        Step(StepKind.SPECIAL_PROCEDURE_STARTED, at(4), "fire", "hearing"),
        # The refused extension (approved=False) is no step.
        Step(StepKind.COMPLETED, at(6)),
    )


def test_a_submission_recorded_after_its_acceptance_takes_its_place_in_time() -> None:
    status = folded((1, ACCEPTED), (0, application_pb2.ApplicationSubmitted(application_code=CODE)))
    assert [step.kind for step in status.steps] == [StepKind.SUBMITTED, StepKind.ACCEPTED]
    again = fold(status, application_pb2.ApplicationSubmitted(application_code=CODE), at=at(0))
    assert again.steps == status.steps


def test_an_event_the_rules_ignore_is_no_step() -> None:
    done = folded((1, ACCEPTED), (2, started("tax")), (3, decided("tax", 1)))
    late = folded((4, decided("tax", approval_pb2.DECISION_OUTCOME_REJECTED)), status=done)
    assert late.steps == done.steps
    assert late.tasks["tax"].state is TaskState.APPROVED


def test_only_the_latest_steps_are_kept() -> None:
    steps: tuple[Step, ...] = ()
    for hour in range(RECENT_STEPS + 5):
        steps = with_step(steps, Step(StepKind.TASK_STARTED, at(hour), f"d{hour}"))
    assert len(steps) == RECENT_STEPS
    assert steps[0].department_code == "d5"
    # An older step arriving late goes to its place, and out if it is the oldest.
    assert with_step(steps, Step(StepKind.TASK_STARTED, at(0), "late")) == steps
    middle = with_step(steps, Step(StepKind.TASK_STARTED, at(10.5), "late"))
    assert [step.department_code for step in middle][4:6] == ["d10", "late"]


def test_a_department_s_supplement_request_keeps_its_materials_and_deadline_until_resumed() -> None:
    due = at(24 * 20)
    status = folded(
        (1, ACCEPTED),
        (2, started("tax")),
        (3, decided("tax", SUPPLEMENT, "id-photo", "lease", due=due)),
    )
    task = status.tasks["tax"]
    assert (task.supplement_materials, task.supplement_due_at) == (("id-photo", "lease"), due)
    assert status.steps[-1] == Step(StepKind.TASK_SUPPLEMENT_REQUESTED, at(3), "tax")
    resumed = folded(
        (
            4,
            approval_pb2.ClocksResumed(
                application_code=CODE, department_codes=["tax"], materials=["id-photo", "lease"]
            ),
        ),
        status=status,
    )
    task = resumed.tasks["tax"]
    assert (task.supplement_materials, task.supplement_due_at) == ((), None)
    assert resumed.missing_materials == ()
    assert resumed.steps[-1] == Step(StepKind.SUPPLEMENT_RECEIVED, at(4))


def test_acceptance_s_supplement_request_keeps_its_deadline_until_everything_arrived() -> None:
    due = at(24 * 20)
    request = approval_pb2.ApplicationAccepted(
        application_code=CODE,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing_materials=["id-photo", "lease"],
        supplement_due_at=ts(due),
    )
    status = folded((1, request))
    assert (status.missing_materials, status.supplement_due_at) == (("id-photo", "lease"), due)

    def resumed(*materials: str) -> approval_pb2.ClocksResumed:
        return approval_pb2.ClocksResumed(application_code=CODE, materials=list(materials))

    partly = folded((2, resumed("lease")), status=status)
    assert (partly.missing_materials, partly.supplement_due_at) == (("id-photo",), due)
    assert folded((3, resumed("id-photo")), status=partly).supplement_due_at is None
    assert folded((3, ACCEPTED), status=partly).supplement_due_at is None


@settings(max_examples=200, deadline=None)
@given(streams)
def test_steps_are_in_time_order_and_bounded(stream) -> None:
    status = reduce(lambda s, step: fold(s, step[0], at=step[1]), stream, ApprovalStatus())
    times = [step.at for step in status.steps]
    assert times == sorted(times)
    assert len(status.steps) <= RECENT_STEPS
    assert len(set(status.steps)) == len(status.steps)
