"""The steps of an application as its applicant may be told of them (`Step`): which
events are steps, and the latest steps kept in order. Pure.

A step names what happened, the department it happened to and when; never the reason,
the note or the staff member (those may name people). Supervision alerts, assignments
and extension requests are the departments' own business and are no steps; nor is an
e-licence's revocation (verification answers it, and the status records it).
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.message import Message

from onceonly.approval.states import AcceptanceOutcome, Decision, StepKind
from onceonly.approval.views import RECENT_STEPS, Step
from onceonly.events.v1 import application_pb2, approval_pb2

_ACCEPTANCE_STEP = {
    AcceptanceOutcome.ACCEPTED: StepKind.ACCEPTED,
    AcceptanceOutcome.ACCEPTED_WITH_DEFICIENCY: StepKind.ACCEPTED_WITH_DEFICIENCY,
    AcceptanceOutcome.SUPPLEMENT_REQUESTED: StepKind.SUPPLEMENT_REQUESTED,
    AcceptanceOutcome.REFUSED: StepKind.REFUSED,
}
_DECISION_STEP = {
    Decision.APPROVED: StepKind.TASK_APPROVED,
    Decision.REJECTED: StepKind.TASK_REJECTED,
    Decision.SUPPLEMENT_REQUESTED: StepKind.TASK_SUPPLEMENT_REQUESTED,
}


def step_of(message: Message, at: datetime) -> Step | None:
    """The step an event is, at `at`; None for an event that is none."""
    match message:
        case application_pb2.ApplicationSubmitted():
            return Step(StepKind.SUBMITTED, at)
        case approval_pb2.ApplicationAccepted():
            outcome = AcceptanceOutcome.of_protobuf(message.outcome)
            return Step(_ACCEPTANCE_STEP[outcome], at) if outcome is not None else None
        case approval_pb2.TaskStarted():
            return Step(StepKind.TASK_STARTED, at, message.department_code)
        case approval_pb2.TaskDecided():
            decision = Decision.of_protobuf(message.outcome)
            if decision is None:
                return None
            return Step(_DECISION_STEP[decision], at, message.department_code)
        case approval_pb2.ClocksResumed():
            return Step(StepKind.SUPPLEMENT_RECEIVED, at)
        case approval_pb2.SpecialProcedureStarted():
            return Step(
                StepKind.SPECIAL_PROCEDURE_STARTED, at, message.department_code, message.kind
            )
        case approval_pb2.SpecialProcedureEnded():
            return Step(StepKind.SPECIAL_PROCEDURE_ENDED, at, message.department_code, message.kind)
        case approval_pb2.ExtensionDecided():
            if not message.approved:
                return None
            return Step(StepKind.EXTENDED, at, message.department_code)
        case approval_pb2.TaskReturned():
            return Step(StepKind.RETURNED, at, message.department_code)
        case approval_pb2.DepartmentAdded():
            return Step(StepKind.DEPARTMENT_ADDED, at, message.department_code)
        case approval_pb2.DepartmentRemoved():
            return Step(StepKind.DEPARTMENT_REMOVED, at, message.department_code)
        case approval_pb2.ApplicationCompleted():
            return Step(StepKind.COMPLETED, at)
        case approval_pb2.ApplicationRejected():
            return Step(StepKind.REJECTED, at, message.department_code)
        case approval_pb2.ApplicationWithdrawn():
            return Step(StepKind.WITHDRAWN, at)
    return None


def with_step(steps: tuple[Step, ...], step: Step) -> tuple[Step, ...]:
    """`steps` with `step` in time order (after steps of the same time), keeping the
    latest RECENT_STEPS; unchanged when the very same step is there already (a
    redelivery)."""
    if step in steps:
        return steps
    position = len(steps)
    while position > 0 and steps[position - 1].at > step.at:
        position -= 1
    return (*steps[:position], step, *steps[position:])[-RECENT_STEPS:]
