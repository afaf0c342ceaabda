"""The status projection: where an application and each department's task stand now.

A pure fold over events (`apply_event`), so the projection can be rebuilt from the
timeline. Events of one application arrive in order within a topic, but tracking reads
several topics at once: a submission may be recorded after its acceptance. The rules
therefore only move forward (a later-ranked status is never replaced by an earlier
one, and a finished status or task never reopens), so the result does not depend on
how the topics interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2
from onceonly.platform.events import instant
from onceonly.tracking.chain import canonical_time

# Why a task's clock stood still (the `reason` of a paused interval).
PAUSE_SUPPLEMENT = "supplement"
PAUSE_SPECIAL = "special_procedure"

UNKNOWN = "unknown"
SUBMITTED = "submitted"
SUPPLEMENT_REQUESTED = "supplement_requested"
ACCEPTED = "accepted"
ACCEPTED_WITH_DEFICIENCY = "accepted_with_deficiency"
REFUSED = "refused"
COMPLETED = "completed"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

FINISHED = frozenset({REFUSED, COMPLETED, REJECTED, WITHDRAWN})
_RANK = {
    UNKNOWN: 0,
    SUBMITTED: 1,
    SUPPLEMENT_REQUESTED: 2,
    ACCEPTED: 2,
    ACCEPTED_WITH_DEFICIENCY: 2,
    REFUSED: 3,
    COMPLETED: 3,
    REJECTED: 3,
    WITHDRAWN: 3,
}

TASK_STARTED = "started"
TASK_SUPPLEMENT_REQUESTED = "supplement_requested"
TASK_APPROVED = "approved"
TASK_REJECTED = "rejected"
TASK_CANCELLED = "cancelled"
TASK_FINISHED = frozenset({TASK_APPROVED, TASK_REJECTED, TASK_CANCELLED})

_ACCEPTANCE = {
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED: ACCEPTED,
    approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY: ACCEPTED_WITH_DEFICIENCY,
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED: SUPPLEMENT_REQUESTED,
    approval_pb2.ACCEPTANCE_OUTCOME_REFUSED: REFUSED,
}
# Supervision levels, ordered: an application shows the worst level of its open clocks.
LEVEL_NONE = "none"
LEVEL_YELLOW = "yellow"
LEVEL_RED = "red"
_LEVEL_RANK = {LEVEL_NONE: 0, LEVEL_YELLOW: 1, LEVEL_RED: 2}
_LEVEL = {
    supervision_pb2.SUPERVISION_LEVEL_NONE: LEVEL_NONE,
    supervision_pb2.SUPERVISION_LEVEL_YELLOW: LEVEL_YELLOW,
    supervision_pb2.SUPERVISION_LEVEL_RED: LEVEL_RED,
}

_DECISION = {
    approval_pb2.DECISION_OUTCOME_APPROVED: TASK_APPROVED,
    approval_pb2.DECISION_OUTCOME_REJECTED: TASK_REJECTED,
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED: TASK_SUPPLEMENT_REQUESTED,
}


@dataclass(frozen=True, slots=True)
class ApplicationStatus:
    """The projected state; `tasks` maps department code → JSON-ready task state."""

    application_code: str
    matter_code: str = ""
    status: str = UNKNOWN
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_event_at: datetime | None = None
    # The application's own clock (alerts with an empty department code).
    supervision: dict[str, Any] = field(default_factory=dict)
    due_at: str | None = None
    # The applicant's latest rating (好差评), 1..5.
    rating: int | None = None

    @property
    def supervision_level(self) -> str:
        """The worst level among the application's own clock and its open tasks."""
        if self.status in FINISHED:
            return LEVEL_NONE
        levels = [self.supervision.get("level", LEVEL_NONE)]
        levels += [
            task.get("supervision_level", LEVEL_NONE)
            for task in self.tasks.values()
            if task.get("state") not in TASK_FINISHED
        ]
        return max(levels, key=_LEVEL_RANK.__getitem__)

    @property
    def paused(self) -> bool:
        """Waiting for the applicant: a supplement requested at intake or by a task."""
        if self.status in FINISHED:
            return False
        if self.status == SUPPLEMENT_REQUESTED:
            return True
        return any(
            task.get("paused", False)
            for task in self.tasks.values()
            if task.get("state") not in TASK_FINISHED
        )


def apply_event(
    current: ApplicationStatus | None,
    *,
    application_code: str,
    message: Message,
    time: datetime,
) -> ApplicationStatus:
    """The status after one more event (events of any type; unrelated ones only touch
    `last_event_at`)."""
    state = current or ApplicationStatus(application_code=application_code)
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    last = time if state.last_event_at is None else max(state.last_event_at, time)
    state = replace(state, last_event_at=last)
    at = canonical_time(time)

    match message:
        case application_pb2.ApplicationSubmitted():
            state = _with_matter(state, message.matter_code)
            return _advance(state, SUBMITTED)
        case approval_pb2.ApplicationAccepted():
            state = _with_matter(state, message.matter_code)
            due = _due(message).get("due_at")
            if due and state.due_at is None:
                state = replace(state, due_at=due)
            outcome = _ACCEPTANCE.get(message.outcome)
            return _advance(state, outcome) if outcome else state
        case approval_pb2.ApplicationCompleted():
            return _advance(_with_matter(state, message.matter_code), COMPLETED)
        case approval_pb2.ApplicationRejected():
            return _advance(_with_matter(state, message.matter_code), REJECTED)
        case approval_pb2.ApplicationWithdrawn():
            return _advance(state, WITHDRAWN)
        case application_pb2.RatingGiven():
            return replace(state, rating=message.level) if 1 <= message.level <= 5 else state
        case approval_pb2.TaskAssigned():
            if not message.assignee:
                return state
            return _with_task(
                state, message.department_code, {"assignee": message.assignee}, reopen=False
            )
        case approval_pb2.SpecialProcedureStarted():
            return _special_started(state, message, at)
        case approval_pb2.SpecialProcedureEnded():
            return _special_ended(state, message, at)
        case approval_pb2.TaskStarted():
            task = {
                "state": TASK_STARTED,
                "task_name": message.task_name,
                "started_at": at,
                "paused": False,
                **_due(message),
            }
            return _with_task(state, message.department_code, task, reopen=True)
        case approval_pb2.TaskDecided():
            outcome = _DECISION.get(message.outcome)
            if outcome is None:
                return state
            task = {"state": outcome, "decided_at": at, **_due(message)}
            # A decision ends the task's alert; a supplement request stops its clock.
            task["supervision_level"] = LEVEL_NONE
            if outcome == TASK_SUPPLEMENT_REQUESTED:
                task["paused"] = True
                task["paused_since"] = at
            if message.reason:
                task["reason"] = message.reason
            return _with_task(state, message.department_code, task, reopen=False)
        case approval_pb2.TaskCancelled():
            task = {"state": TASK_CANCELLED, "decided_at": at, "supervision_level": LEVEL_NONE}
            if message.reason:
                task["reason"] = message.reason
            return _with_task(state, message.department_code, task, reopen=False)
        case supervision_pb2.SupervisionAlert():
            state = _with_matter(state, message.matter_code)
            return _with_alert(state, message, at)
    return state


def _with_alert(
    state: ApplicationStatus, alert: supervision_pb2.SupervisionAlert, at: str
) -> ApplicationStatus:
    """Record an alert unless something newer already superseded it.

    Alerts travel on their own topic, so one raised before a decision may be recorded
    after it: an alert counts only when raised after the task's decision or resumption
    and after the previous alert (all compared by the time the events carry).
    """
    level = _LEVEL.get(alert.level)
    if level is None:
        return state
    raised = (
        canonical_time(alert.raised_at.ToDatetime(tzinfo=UTC))
        if alert.HasField("raised_at")
        else at
    )
    found: dict[str, Any] = {
        "supervision_level": level,
        "escalation": alert.escalation,
        "seconds_left": alert.seconds_left,
        "alert_raised_at": raised,
    }
    due = _due(alert).get("due_at")
    if due:
        found["due_at"] = due
    if not alert.department_code:
        if raised < state.supervision.get("alert_raised_at", ""):
            return state
        own = {("level" if k == "supervision_level" else k): v for k, v in found.items()}
        state = replace(state, supervision=own)
        return replace(state, due_at=due) if due else state
    previous = state.tasks.get(alert.department_code, {})
    newest = max(
        previous.get("alert_raised_at", ""),
        previous.get("decided_at", ""),
        previous.get("resumed_at", ""),
    )
    if raised < newest:
        return state
    return _with_task(state, alert.department_code, found, reopen=False)


def _advance(state: ApplicationStatus, status: str) -> ApplicationStatus:
    """Move to `status` unless that would go back (a finished application stays)."""
    if state.status in FINISHED:
        return state
    if _RANK[status] < _RANK[state.status]:
        return state
    return replace(state, status=status)


def _with_matter(state: ApplicationStatus, matter_code: str) -> ApplicationStatus:
    if matter_code and not state.matter_code:
        return replace(state, matter_code=matter_code)
    return state


def _with_task(
    state: ApplicationStatus, department: str, update: dict[str, Any], *, reopen: bool
) -> ApplicationStatus:
    """Merge a task update; a finished task keeps its outcome.

    `reopen` marks a start: it may follow a supplement request (the task resumes) but
    must not undo a decision that arrived first.
    """
    if not department:
        return state
    previous = state.tasks.get(department, {})
    if previous.get("state") in TASK_FINISHED:
        return state
    if reopen:
        # A task resumed after a supplement keeps its first start time (its clock runs
        # from there) and sheds the supplement request's decision fields.
        started = update["started_at"]
        update = {**update, "started_at": previous.get("started_at", started)}
        if previous.get("state") == TASK_SUPPLEMENT_REQUESTED:
            # Alerts raised before the resumption belong to the stopped clock.
            update["resumed_at"] = started
            since = previous.get("paused_since")
            if since:
                update.update(_closed_pause(previous, since, started, PAUSE_SUPPLEMENT))
        previous = {
            k: v for k, v in previous.items() if k not in ("decided_at", "reason", "paused_since")
        }
    tasks = {**state.tasks, department: {**previous, **update}}
    return replace(state, tasks=tasks)


def _special_started(
    state: ApplicationStatus, message: approval_pb2.SpecialProcedureStarted, at: str
) -> ApplicationStatus:
    """A special procedure (特别程序) stops the task's clock until it ends."""
    previous = state.tasks.get(message.department_code, {})
    if previous.get("special_procedure"):
        return state  # already under way (the workflow refuses a second one)
    update = {
        **_due(message),
        "special_procedure": message.kind,
        "special_since": at,
        "paused": True,
    }
    return _with_task(state, message.department_code, update, reopen=False)


def _special_ended(
    state: ApplicationStatus, message: approval_pb2.SpecialProcedureEnded, at: str
) -> ApplicationStatus:
    """The clock runs again (unless a supplement request still holds it); the interval
    is kept, so its time is excluded from the task's clock."""
    department = message.department_code
    previous = state.tasks.get(department, {})
    since = previous.get("special_since")
    if not since or previous.get("state") in TASK_FINISHED:
        return state
    kind = previous.get("special_procedure") or message.kind
    update = {
        **_due(message),
        **_closed_pause(previous, since, at, f"{PAUSE_SPECIAL}:{kind}"),
        "paused": message.clock.paused if message.HasField("clock") else False,
    }
    kept = {k: v for k, v in previous.items() if k not in ("special_procedure", "special_since")}
    tasks = {**state.tasks, department: {**kept, **update}}
    return replace(state, tasks=tasks)


def _closed_pause(previous: dict[str, Any], since: str, until: str, reason: str) -> dict[str, Any]:
    """The task's paused intervals with [since, until) added, and their total seconds."""
    seconds = max(
        0.0, (datetime.fromisoformat(until) - datetime.fromisoformat(since)).total_seconds()
    )
    interval = {"from": since, "to": until, "reason": reason}
    intervals = [*previous.get("paused_intervals", []), interval]
    return {
        "paused_intervals": intervals,
        "paused_seconds": previous.get("paused_seconds", 0) + round(seconds),
    }


def _due(message: Message) -> dict[str, Any]:
    clock = getattr(message, "clock", None)
    if clock is None or not message.HasField("clock"):
        return {}
    found: dict[str, Any] = {"paused": clock.paused}
    if clock.committed_days:
        found["committed_days"] = clock.committed_days
        found["day_kind"] = clock.day_kind
    due_at = instant(clock, "due_at")
    if due_at is not None:
        found["due_at"] = canonical_time(due_at)
    return found


def status_json(state: ApplicationStatus) -> dict[str, Any]:
    """The projection as the API shows it."""
    return {
        "application_code": state.application_code,
        "matter_code": state.matter_code or None,
        "status": state.status,
        "tasks": state.tasks,
        "last_event_at": canonical_time(state.last_event_at) if state.last_event_at else None,
        "supervision_level": state.supervision_level,
        "paused": state.paused,
        "due_at": state.due_at,
        "supervision": state.supervision,
        "rating": state.rating,
    }
