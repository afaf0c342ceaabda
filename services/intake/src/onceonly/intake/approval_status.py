"""Where an application stands in the approval, as intake shows it to its integrator.

A pure fold over the workflow's approval events (`apply_approval_event`): the status,
the application's clock, each department's task with its clock, what is missing and
the e-licence number. The events of one application arrive in order (one topic, keyed
by application code) and are deduplicated by event id before they get here; the rules
still only move forward (a finished application or task never reopens), so that a
replayed old event cannot undo a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.message import Message

from onceonly.events.v1 import approval_pb2
from onceonly.platform.events import instant

Status = Literal[
    "submitted",
    "supplement_requested",
    "accepted",
    "accepted_with_deficiency",
    "refused",
    "completed",
    "rejected",
    "withdrawn",
]
TaskStatus = Literal["started", "supplement_requested", "approved", "rejected", "cancelled"]

SUBMITTED: Status = "submitted"
FINISHED: frozenset[str] = frozenset({"refused", "completed", "rejected", "withdrawn"})
TASK_FINISHED: frozenset[str] = frozenset({"approved", "rejected", "cancelled"})
_RANK = {
    "submitted": 0,
    "supplement_requested": 1,
    "accepted": 1,
    "accepted_with_deficiency": 1,
    "refused": 2,
    "completed": 2,
    "rejected": 2,
    "withdrawn": 2,
}
_ACCEPTANCE: dict[int, Status] = {
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: "accepted",
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: "accepted_with_deficiency",
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
    approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: "refused",
}
_DECISION: dict[int, TaskStatus] = {
    approval_pb2.DECISION_OUTCOME_APPROVED: "approved",
    approval_pb2.DECISION_OUTCOME_REJECTED: "rejected",
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED: "supplement_requested",
}


@dataclass(frozen=True, slots=True)
class ApprovalState:
    """JSON-ready parts (`clock`, `tasks`) so that the store keeps them as jsonb.

    `clock` and each task's `clock`: committed_days, day_kind, started_at, due_at,
    paused, provisional. `tasks` maps department code to: state, task_name, clock,
    reason, decided_at, special_procedure. `missing_since` is when the materials in
    `missing_materials` were asked for (supplements after it count against them).
    """

    status: Status = SUBMITTED
    reason: str = ""
    missing_materials: tuple[str, ...] = ()
    missing_since: datetime | None = None
    clock: dict[str, Any] | None = None
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    elicence_number: str = ""
    last_event_at: datetime | None = None


def apply_approval_event(state: ApprovalState, message: Message, at: datetime) -> ApprovalState:
    """The state after one more approval event (others leave it as it is)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    last = at if state.last_event_at is None else max(state.last_event_at, at)
    state = replace(state, last_event_at=last)
    match message:
        case approval_pb2.ApplicationAccepted():
            outcome = _ACCEPTANCE.get(message.outcome)
            if outcome is None or not _may_become(state, outcome):
                return state
            # Accepted: nothing missing. Supplement requested or accepted with deficiency:
            # the list is what is missing. Refused: the list says why.
            missing = () if outcome == "accepted" else tuple(message.missing_materials)
            return replace(
                state,
                status=outcome,
                reason=message.reason,
                missing_materials=missing,
                missing_since=at if missing else None,
                clock=_clock(message) or state.clock,
            )
        case approval_pb2.ApplicationCompleted():
            if not _may_become(state, "completed"):
                return state
            return replace(
                state,
                status="completed",
                reason="",
                missing_materials=(),
                missing_since=None,
                clock=_clock(message) or state.clock,
                elicence_number=message.elicence_number,
            )
        case approval_pb2.ApplicationRejected():
            if not _may_become(state, "rejected"):
                return state
            return replace(state, status="rejected", reason=message.reason)
        case approval_pb2.ApplicationWithdrawn():
            if not _may_become(state, "withdrawn"):
                return state
            return replace(state, status="withdrawn", reason=message.reason)
        case approval_pb2.TaskStarted():
            task = {
                "state": "started",
                "task_name": message.task_name,
                "reason": "",
                "decided_at": None,
            }
            return _with_task(state, message.department_code, task, _clock(message))
        case approval_pb2.TaskDecided():
            outcome = _DECISION.get(message.outcome)
            if outcome is None:
                return state
            task = {"state": outcome, "reason": message.reason, "decided_at": _iso(at)}
            return _with_task(state, message.department_code, task, _clock(message))
        case approval_pb2.TaskCancelled():
            task = {"state": "cancelled", "reason": message.reason, "decided_at": _iso(at)}
            return _with_task(state, message.department_code, task, None)
        case approval_pb2.SpecialProcedureStarted():
            task = {"special_procedure": message.kind}
            return _with_task(state, message.department_code, task, _clock(message))
        case approval_pb2.SpecialProcedureEnded():
            task = {"special_procedure": None}
            return _with_task(state, message.department_code, task, _clock(message))
    return state


def _may_become(state: ApprovalState, status: Status) -> bool:
    """Forward only: a finished application stays finished, and no step goes back."""
    return state.status not in FINISHED and _RANK[status] >= _RANK[state.status]


def _with_task(
    state: ApprovalState,
    department: str,
    update: dict[str, Any],
    clock: dict[str, Any] | None,
) -> ApprovalState:
    if not department:
        return state
    previous = state.tasks.get(department, {})
    if previous.get("state") in TASK_FINISHED:
        return state
    merged = {**previous, **update}
    if clock is not None:
        merged["clock"] = clock
    merged.setdefault("task_name", "")
    merged.setdefault("state", "started")
    return replace(state, tasks={**state.tasks, department: merged})


def _clock(message: Message) -> dict[str, Any] | None:
    if not message.HasField("clock"):
        return None
    clock = message.clock
    return {
        "committed_days": clock.committed_days,
        "day_kind": clock.day_kind or "working",
        "started_at": _iso_or_none(instant(clock, "started_at")),
        "due_at": _iso_or_none(instant(clock, "due_at")),
        "paused": clock.paused,
        "provisional": clock.provisional,
    }


def _iso_or_none(at: datetime | None) -> str | None:
    return _iso(at) if at is not None else None


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def outstanding_materials(state: ApprovalState, supplied: set[str]) -> tuple[str, ...]:
    """What is still missing: asked for, and not provided in a supplement since."""
    if state.status in FINISHED and state.status != "refused":
        return ()
    return tuple(code for code in state.missing_materials if code not in supplied)
