"""One pure fold of events into where an application stands (`fold`).

The events are the workflow's approval events, the supervision alerts, the submission
and the rating; any other event only moves `last_event_at`. Events of one topic arrive
in order (keyed by application code), but a reader of several topics may record them
interleaved (a submission after its acceptance, an alert after the decision it
preceded). The rules therefore only move forward: an application never moves to a lower
rank (`ApplicationState.rank`), a finished application or task never changes again, and
an alert counts only when raised after the task's decision or resumption and after the
alert before it. States of the same rank may follow each other (a supplement request,
then acceptance): within a rank the fold trusts the order, so a replayed event must be
recognised (by its event id) before it gets here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from onceonly.approval.states import (
    AcceptanceOutcome,
    ApplicationState,
    Decision,
    PauseReason,
    SupervisionLevel,
    TaskState,
)
from onceonly.approval.steps import step_of, with_step
from onceonly.approval.views import Alert, ApprovalStatus, Clock, PausedInterval, TaskView
from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2


def fold(status: ApprovalStatus, message: Message, *, at: datetime) -> ApprovalStatus:
    """The status after one more event that happened `at` (its CloudEvents time; a
    naive time is UTC)."""
    at = utc(at)
    last = at if status.last_event_at is None else max(status.last_event_at, at)
    step = step_of(message, at)
    after = _folded(status, message, at)  # the rules never read last_event_at
    if step is not None and takes_effect(status, message):
        return replace(after, last_event_at=last, steps=with_step(after.steps, step))
    return replace(after, last_event_at=last)


def takes_effect(status: ApprovalStatus, message: Message) -> bool:
    """Whether the rules take the event in (an event they ignore, a decision on a
    finished task or an older state, is no step either). Judged on the states alone,
    which every projection keeps, so that a status read back from storage records the
    same steps as one kept in memory."""
    match message:
        case application_pb2.ApplicationSubmitted():
            return True  # whenever it comes: it is recorded after acceptance at times
        case approval_pb2.ApplicationAccepted():
            outcome = AcceptanceOutcome.of_protobuf(message.outcome)
            return (
                outcome is not None
                and not status.finished
                and outcome.application_state.rank >= status.state.rank
            )
        case approval_pb2.TaskReturned():
            task = status.tasks.get(message.department_code)
            return not status.finished and task is not None and task.state is TaskState.APPROVED
        case approval_pb2.SpecialProcedureStarted() | approval_pb2.SpecialProcedureEnded():
            # One at a time: a second start while one runs, an end without one, ignored.
            task = status.tasks.get(message.department_code)
            running = task is not None and bool(task.special_procedure)
            if isinstance(message, approval_pb2.SpecialProcedureEnded):
                return running and task is not None and not task.finished
            return bool(message.department_code) and not running and not (task and task.finished)
        case (
            approval_pb2.TaskStarted()
            | approval_pb2.TaskDecided()
            | approval_pb2.ExtensionDecided()
            | approval_pb2.DepartmentAdded()
            | approval_pb2.DepartmentRemoved()
        ):
            task = status.tasks.get(message.department_code)
            return bool(message.department_code) and (task is None or not task.finished)
    return not status.finished


def _folded(status: ApprovalStatus, message: Message, at: datetime) -> ApprovalStatus:
    match message:
        case application_pb2.ApplicationSubmitted():
            status = _with_matter(status, message.matter_code)
            return _advance(status, ApplicationState.SUBMITTED)
        case approval_pb2.ApplicationAccepted():
            return _accepted(_with_matter(status, message.matter_code), message, at)
        case approval_pb2.ApplicationCompleted():
            status = _with_matter(status, message.matter_code)
            return _advance(
                status,
                ApplicationState.COMPLETED,
                reason="",
                missing_materials=(),
                missing_since=None,
                supplement_due_at=None,
                clock=clock_of(message) or status.clock,
                elicence_number=message.elicence_number,
            )
        case approval_pb2.ApplicationRejected():
            status = _with_matter(status, message.matter_code)
            return _advance(status, ApplicationState.REJECTED, reason=message.reason)
        case approval_pb2.ApplicationWithdrawn():
            return _advance(status, ApplicationState.WITHDRAWN, reason=message.reason)
        case application_pb2.RatingGiven():
            return replace(status, rating=message.level) if 1 <= message.level <= 5 else status
        case approval_pb2.TaskStarted():
            return _started(status, message, at)
        case approval_pb2.TaskDecided():
            return _decided(status, message, at)
        case approval_pb2.TaskCancelled() | approval_pb2.DepartmentRemoved():
            # A task cancelled when the application ends, or its department removed (减签).
            return _with_task(
                status,
                message.department_code,
                state=TaskState.CANCELLED,
                reason=message.reason,
                decided_at=at,
                supervision_level=SupervisionLevel.NONE,
            )
        case approval_pb2.TaskAssigned():
            if not message.assignee:
                return status
            return _with_task(status, message.department_code, assignee=message.assignee)
        case approval_pb2.SpecialProcedureStarted():
            return _special_started(status, message, at)
        case approval_pb2.SpecialProcedureEnded():
            return _special_ended(status, message, at)
        case supervision_pb2.SupervisionAlert():
            return _alerted(_with_matter(status, message.matter_code), message, at)
        case supervision_pb2.SpecialProcedureOverrun():
            return _special_overrun(_with_matter(status, message.matter_code), message, at)
        case approval_pb2.TaskReturned():
            return _returned(status, message, at)
        case approval_pb2.DepartmentAdded():
            return _started(status, message, at)
        case approval_pb2.ExtensionDecided():
            return _extended(status, message, at)
        case approval_pb2.ClocksResumed():
            return _clocks_resumed(status, message, at)
        case approval_pb2.ELicenceRevoked():
            if status.elicence_revoked_at is not None:
                return status  # the first revocation stands
            return replace(
                status,
                elicence_number=status.elicence_number or message.elicence_number,
                elicence_revoked_at=instant(message, "revoked_at") or at,
                elicence_revocation_reason=message.reason,
            )
    return status


def _returned(
    status: ApprovalStatus, message: approval_pb2.TaskReturned, at: datetime
) -> ApprovalStatus:
    """退回重审: the one way a decided task opens again (an approval the lead department
    sends back); its clock continues, so alerts raised before belong to the old one."""
    previous = status.tasks.get(message.department_code)
    if status.finished or previous is None or previous.state is not TaskState.APPROVED:
        return status
    if previous.decided_at is not None and at < previous.decided_at:
        return status
    task = replace(
        _with_clock(previous, message),
        state=TaskState.STARTED,
        reason=message.reason,
        decided_at=None,
        resumed_at=at,
        supervision_level=SupervisionLevel.NONE,
    )
    return _put(status, task)


def _extended(
    status: ApprovalStatus, message: approval_pb2.ExtensionDecided, at: datetime
) -> ApprovalStatus:
    """An approved extension (延期) moves the task's deadline; alerts raised before it
    were against the old one. A refused one changes nothing."""
    previous = _task(status, message.department_code)
    if not message.approved or previous is None or previous.finished:
        return status
    task = replace(
        _with_clock(previous, message), resumed_at=at, supervision_level=SupervisionLevel.NONE
    )
    return _put(status, task)


def _clocks_resumed(
    status: ApprovalStatus, message: approval_pb2.ClocksResumed, at: datetime
) -> ApprovalStatus:
    """The supplement arrived: the named tasks run again, and what it provided is no
    longer missing."""
    for department in message.department_codes:
        previous = status.tasks.get(department)
        if previous is not None and previous.state is TaskState.SUPPLEMENT_REQUESTED:
            status = _put(status, _resumed(previous, at))
    provided = set(message.materials)
    if status.missing_materials and provided and not status.finished:
        left = tuple(m for m in status.missing_materials if m not in provided)
        status = replace(
            status,
            missing_materials=left,
            missing_since=status.missing_since if left else None,
            supplement_due_at=status.supplement_due_at if left else None,
        )
    return status


def _resumed(task: TaskView, at: datetime) -> TaskView:
    """A task waiting for a supplement running again: the pause closed, alerts raised
    before it belonging to the stopped clock."""
    changes: dict[str, Any] = {"resumed_at": at}
    if task.paused_since is not None:
        changes.update(_closed_pause(task, task.paused_since, at, PauseReason.SUPPLEMENT))
    return replace(
        task,
        state=TaskState.STARTED,
        paused=False,
        reason="",
        decided_at=None,
        paused_since=None,
        supplement_materials=(),
        supplement_due_at=None,
        **changes,
    )


def _accepted(
    status: ApprovalStatus, message: approval_pb2.ApplicationAccepted, at: datetime
) -> ApprovalStatus:
    clock = clock_of(message)
    if status.due_at is None and clock is not None and clock.due_at is not None:
        status = replace(status, due_at=clock.due_at)
    outcome = AcceptanceOutcome.of_protobuf(message.outcome)
    if outcome is None:
        return status
    # Accepted: nothing missing. Supplement requested or accepted with deficiency: the
    # list is what is missing. Refused: the list says why.
    missing = () if outcome is AcceptanceOutcome.ACCEPTED else tuple(message.missing_materials)
    return _advance(
        status,
        outcome.application_state,
        reason=refusal_text(message),
        missing_materials=missing,
        missing_since=at if missing else None,
        supplement_due_at=instant(message, "supplement_due_at") if missing else None,
        clock=clock or status.clock,
    )


def refusal_text(message: approval_pb2.ApplicationAccepted) -> str:
    """The reason as the applicant reads it; a window's written refusal (不予受理决定)
    with its number, legal basis and appeal route."""
    if not message.decision_number:
        return message.reason
    parts = [
        message.reason,
        f"决定书 / decision {message.decision_number}",
        f"依据 / legal basis: {message.legal_basis}" if message.legal_basis else "",
        message.appeal_route,
    ]
    return "；".join(part for part in parts if part)


def _advance(status: ApprovalStatus, state: ApplicationState, **changes: Any) -> ApprovalStatus:
    """Move to `state` with `changes` unless that would go back (a finished application
    stays as it is)."""
    if status.finished or state.rank < status.state.rank:
        return status
    return replace(status, state=state, **changes)


def _with_matter(status: ApprovalStatus, matter_code: str) -> ApprovalStatus:
    if matter_code and not status.matter_code:
        return replace(status, matter_code=matter_code)
    return status


def _started(
    status: ApprovalStatus,
    message: approval_pb2.TaskStarted | approval_pb2.DepartmentAdded,
    at: datetime,
) -> ApprovalStatus:
    """A start, or a resumption after a supplement request: the task keeps its first
    start time (its clock runs from there) and sheds the request's decision."""
    previous = _task(status, message.department_code)
    if previous is None or previous.finished:
        return status
    changes: dict[str, Any] = {}
    if previous.state is TaskState.SUPPLEMENT_REQUESTED:
        changes["resumed_at"] = at  # alerts raised before it belong to the stopped clock
        since = previous.paused_since
        if since is not None:
            changes.update(_closed_pause(previous, since, at, PauseReason.SUPPLEMENT))
    task = replace(
        previous,
        state=TaskState.STARTED,
        task_name=message.task_name,
        started_at=previous.started_at or at,
        paused=False,
        reason="",
        decided_at=None,
        paused_since=None,
        supplement_materials=(),
        supplement_due_at=None,
        **changes,
    )
    return _put(status, _with_clock(task, message))


def _decided(
    status: ApprovalStatus, message: approval_pb2.TaskDecided, at: datetime
) -> ApprovalStatus:
    decision = Decision.of_protobuf(message.outcome)
    previous = _task(status, message.department_code)
    if decision is None or previous is None or previous.finished:
        return status
    # A decision ends the task's alert; a supplement request stops its clock.
    task = replace(
        _with_clock(previous, message),
        state=decision.task_state,
        reason=message.reason,
        decided_at=at,
        supervision_level=SupervisionLevel.NONE,
    )
    if decision is Decision.SUPPLEMENT_REQUESTED:
        task = replace(
            task,
            paused=True,
            paused_since=at,
            supplement_materials=tuple(message.missing_materials),
            supplement_due_at=instant(message, "supplement_due_at"),
        )
        if message.missing_materials and not status.finished:
            # 一次性告知: what the department asks for is what the application misses.
            missing = tuple(dict.fromkeys((*status.missing_materials, *message.missing_materials)))
            status = replace(status, missing_materials=missing, missing_since=at)
    return _put(status, task)


def _special_started(
    status: ApprovalStatus, message: approval_pb2.SpecialProcedureStarted, at: datetime
) -> ApprovalStatus:
    """A special procedure (特别程序) stops the task's clock until it ends."""
    previous = _task(status, message.department_code)
    if previous is None or previous.finished or previous.special_procedure:
        return status  # a second one is refused by the workflow
    task = replace(
        _with_clock(previous, message),
        special_procedure=message.kind,
        special_since=at,
        special_overrun_at=None,
        paused=True,
    )
    return _put(status, task)


def _special_overrun(
    status: ApprovalStatus, message: supervision_pb2.SpecialProcedureOverrun, at: datetime
) -> ApprovalStatus:
    """A special procedure past its maximum length; one raised before the running
    procedure started belongs to an earlier one (alerts travel on their own topic)."""
    previous = _task(status, message.department_code)
    if previous is None or previous.finished:
        return status
    raised = utc(message.raised_at.ToDatetime()) if message.HasField("raised_at") else at
    if previous.special_since is not None and raised < previous.special_since:
        return status
    return _put(status, replace(previous, special_overrun_at=raised))


def _special_ended(
    status: ApprovalStatus, message: approval_pb2.SpecialProcedureEnded, at: datetime
) -> ApprovalStatus:
    """The clock runs again (unless the workflow says another hold remains); the
    interval is kept, so its time is left out of the task's clock."""
    previous = _task(status, message.department_code)
    if previous is None or previous.finished or previous.special_procedure is None:
        return status  # an end without a start
    changes: dict[str, Any] = {}
    if previous.special_since is not None:
        kind = previous.special_procedure or message.kind
        reason = f"{PauseReason.SPECIAL_PROCEDURE}:{kind}"
        changes = _closed_pause(previous, previous.special_since, at, reason)
    task = replace(
        _with_clock(previous, message),
        special_procedure=None,
        special_since=None,
        **changes,
    )
    return _put(status, replace(task, paused=message.HasField("clock") and message.clock.paused))


def _alerted(
    status: ApprovalStatus, message: supervision_pb2.SupervisionAlert, at: datetime
) -> ApprovalStatus:
    """Record an alert unless something newer superseded it (alerts travel on their
    own topic: one raised before a decision may be recorded after it)."""
    level = SupervisionLevel.of_protobuf(message.level)
    if level is None:
        return status
    raised = utc(message.raised_at.ToDatetime()) if message.HasField("raised_at") else at
    alert = Alert(
        level=level,
        escalation=message.escalation,
        seconds_left=message.seconds_left,
        raised_at=raised,
        due_at=instant(message.clock, "due_at") if message.HasField("clock") else None,
        legal_due_at=instant(message, "legal_due_at"),
    )
    if not message.department_code:
        if status.alert is not None and raised < status.alert.raised_at:
            return status
        status = replace(status, alert=alert)
        return replace(status, due_at=alert.due_at) if alert.due_at else status
    previous = _task(status, message.department_code)
    if previous is None or previous.finished:
        return status
    newer = [
        previous.alert.raised_at if previous.alert else None,
        previous.decided_at,
        previous.resumed_at,
    ]
    if any(time is not None and raised < time for time in newer):
        return status
    task = replace(previous, supervision_level=level, alert=alert)
    if alert.due_at is not None:
        task = replace(task, due_at=alert.due_at)
    if alert.legal_due_at is not None:
        task = replace(task, legal_due_at=alert.legal_due_at)
    return _put(status, task)


def _task(status: ApprovalStatus, department: str) -> TaskView | None:
    """The department's task (a new one if the department has none yet); None for an
    event that names no department."""
    if not department:
        return None
    return status.tasks.get(department) or TaskView(department_code=department)


def _with_task(status: ApprovalStatus, department: str, **changes: Any) -> ApprovalStatus:
    """The task with `changes`, unless it is finished."""
    previous = _task(status, department)
    if previous is None or previous.finished:
        return status
    return _put(status, replace(previous, **changes))


def _put(status: ApprovalStatus, task: TaskView) -> ApprovalStatus:
    return replace(status, tasks={**status.tasks, task.department_code: task})


def _with_clock(task: TaskView, message: Message) -> TaskView:
    """The task with the clock the event carries (if any): kept as carried, and its
    figures merged into the task's."""
    clock = clock_of(message)
    if clock is None:
        return task
    changes: dict[str, Any] = {"clock": clock, "paused": clock.paused}
    if clock.committed_days:
        changes["committed_days"] = clock.committed_days
        changes["day_kind"] = clock.day_kind
    if clock.due_at is not None:
        changes["due_at"] = clock.due_at
        changes["provisional"] = clock.provisional
    return replace(task, **changes)


def _closed_pause(task: TaskView, since: datetime, until: datetime, reason: str) -> dict[str, Any]:
    """The task's paused intervals with [since, until) added, and their total seconds."""
    seconds = round(max(0.0, (until - since).total_seconds()))
    return {
        "paused_intervals": (*task.paused_intervals, PausedInterval(since, until, reason)),
        "paused_seconds": task.paused_seconds + seconds,
    }


def clock_of(message: Message) -> Clock | None:
    """The `clock` an event carries, None when it carries none."""
    if "clock" not in message.DESCRIPTOR.fields_by_name or not message.HasField("clock"):
        return None
    clock = message.clock  # type: ignore[attr-defined]
    return Clock(
        committed_days=clock.committed_days,
        day_kind=clock.day_kind,
        started_at=instant(clock, "started_at"),
        due_at=instant(clock, "due_at"),
        paused=clock.paused,
        provisional=clock.provisional,
    )


def instant(message: Message, name: str) -> datetime | None:
    """The Timestamp field `name` as an aware UTC datetime; None when it is unset or
    zero (the workflow sends an empty Timestamp for a deadline it does not know yet,
    which read as set would be 1970-01-01)."""
    if not message.HasField(name):
        return None
    stamp = getattr(message, name)
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return utc(stamp.ToDatetime())


def utc(at: datetime) -> datetime:
    """`at` in UTC; a naive time is taken as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
