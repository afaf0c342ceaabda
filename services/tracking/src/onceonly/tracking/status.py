"""The status projection: where an application and each department's task stand now.

The fold is the approval library's (`onceonly.approval.fold`), so the projection can be
rebuilt from the timeline and says what intake says. This module is tracking's adapter
around it: the fold with tracking's arguments, keeping what tracking keeps
(`apply_event`), and the JSON of
`tracking.application_status` and of the API (`status_json`, `task_json`), read back by
`stored_status`. The JSON keeps its shape: a key appears only once an event told its
value (the supervision queries and the dashboard read these keys).

Read back, a task's latest alert keeps no level and no deadline of its own (the JSON
has the task's level, which a decision sets to `none`, and its merged deadline): the
fold needs only its time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from onceonly.approval import (
    Alert,
    ApplicationState,
    ApprovalStatus,
    PausedInterval,
    SupervisionLevel,
    TaskState,
    TaskView,
    fold,
)
from onceonly.approval.fold import utc
from onceonly.tracking.chain import canonical_time

# Tracking's projection is the library's status; the name stays for its callers.
ApplicationStatus = ApprovalStatus


def apply_event(
    current: ApplicationStatus | None,
    *,
    application_code: str,
    message: Message,
    time: datetime,
) -> ApplicationStatus:
    """The status after one more event (events of any type; unrelated ones only touch
    `last_event_at`), as tracking keeps it (`kept`). `current` is kept already: an
    earlier result of this function or a status row read back."""
    state = current or ApprovalStatus(application_code=application_code)
    return kept(fold(state, message, at=time), unchanged_from=current)


def kept(
    state: ApplicationStatus, *, unchanged_from: ApplicationStatus | None = None
) -> ApplicationStatus:
    """The status as its row keeps it: what tracking shows, without what only intake
    shows (the clocks as events carried them, reasons, missing materials, e-licence),
    so that the status an append returns is the one read back from its row.

    `unchanged_from`: a status kept already that `state` was folded from. The fold
    replaces what an event changes and leaves the rest the same (immutable) objects, so
    a task or alert of `state` that is one of `unchanged_from`'s is kept as it is
    instead of through its JSON and back (most events change one task of several)."""
    tasks_before = unchanged_from.tasks if unchanged_from is not None else {}
    alert = state.alert
    if unchanged_from is None or alert is not unchanged_from.alert:
        alert = _stored_alert(supervision_json(alert))
    return _row_status(
        application_code=state.application_code,
        matter_code=state.matter_code,
        state=state.state,
        tasks={
            department: task
            if tasks_before.get(department) is task
            else stored_task(department, task_json(task))
            for department, task in state.tasks.items()
        },
        last_event_at=state.last_event_at,
        alert=alert,
        due_at=state.due_at,
        rating=state.rating,
    )


def status_json(state: ApplicationStatus) -> dict[str, Any]:
    """The projection as the API shows it."""
    return {
        "application_code": state.application_code,
        "matter_code": state.matter_code or None,
        "status": state.state.value,
        "tasks": tasks_json(state),
        "last_event_at": _time(state.last_event_at),
        "supervision_level": state.supervision_level.value,
        "paused": state.paused,
        "due_at": _time(state.due_at),
        "supervision": supervision_json(state.alert),
        "rating": state.rating,
    }


def tasks_json(state: ApplicationStatus) -> dict[str, dict[str, Any]]:
    return {department: task_json(task) for department, task in state.tasks.items()}


def task_json(task: TaskView) -> dict[str, Any]:
    """One task as tracking stores and shows it: only what events have told."""
    found: dict[str, Any] = {}
    if task.state is not None:
        found["state"] = task.state.value
    if task.started_at is not None:
        found["task_name"] = task.task_name
        found["started_at"] = _time(task.started_at)
    if task.paused is not None:
        found["paused"] = task.paused
    if task.committed_days is not None:
        found["committed_days"] = task.committed_days
        found["day_kind"] = task.day_kind
    if task.due_at is not None:
        found["due_at"] = _time(task.due_at)
    if task.provisional:  # an estimate until the year's holiday notice is published
        found["provisional"] = True
    if task.decided_at is not None:
        found["decided_at"] = _time(task.decided_at)
    if task.reason:
        found["reason"] = task.reason
    if task.supervision_level is not None:
        found["supervision_level"] = task.supervision_level.value
    if task.alert is not None:
        found["escalation"] = task.alert.escalation
        found["seconds_left"] = task.alert.seconds_left
        found["alert_raised_at"] = _time(task.alert.raised_at)
    if task.legal_due_at is not None:
        found["legal_due_at"] = _time(task.legal_due_at)
    if task.assignee:
        found["assignee"] = task.assignee
    if task.special_procedure is not None:
        found["special_procedure"] = task.special_procedure
    if task.special_since is not None:
        found["special_since"] = _time(task.special_since)
    if task.special_overrun_at is not None:
        found["special_overrun_at"] = _time(task.special_overrun_at)
    if task.paused_since is not None:
        found["paused_since"] = _time(task.paused_since)
    if task.resumed_at is not None:
        found["resumed_at"] = _time(task.resumed_at)
    if task.paused_intervals:
        found["paused_intervals"] = [
            {"from": _time(i.since), "to": _time(i.until), "reason": i.reason}
            for i in task.paused_intervals
        ]
        found["paused_seconds"] = task.paused_seconds
    return found


def supervision_json(alert: Alert | None) -> dict[str, Any]:
    """The alert on the application's own clock ({} while there is none)."""
    if alert is None:
        return {}
    found: dict[str, Any] = {
        "level": alert.level.value,
        "escalation": alert.escalation,
        "seconds_left": alert.seconds_left,
        "alert_raised_at": _time(alert.raised_at),
    }
    if alert.due_at is not None:
        found["due_at"] = _time(alert.due_at)
    if alert.legal_due_at is not None:
        found["legal_due_at"] = _time(alert.legal_due_at)
    return found


def stored_status(
    *,
    application_code: str,
    matter_code: str | None,
    status: str,
    tasks: Mapping[str, Mapping[str, Any]],
    last_event_at: datetime | None,
    supervision: Mapping[str, Any],
    due_at: datetime | None,
    rating: int | None,
) -> ApplicationStatus:
    """The status from the columns of its `tracking.application_status` row."""
    return _row_status(
        application_code=application_code,
        matter_code=matter_code,
        state=ApplicationState(status),
        tasks={department: stored_task(department, task) for department, task in tasks.items()},
        last_event_at=last_event_at,
        alert=_stored_alert(supervision),
        due_at=due_at,
        rating=rating,
    )


def _row_status(
    *,
    application_code: str,
    matter_code: str | None,
    state: ApplicationState,
    tasks: dict[str, TaskView],
    last_event_at: datetime | None,
    alert: Alert | None,
    due_at: datetime | None,
    rating: int | None,
) -> ApplicationStatus:
    """A status with only what its row holds, its instants in UTC."""
    return ApprovalStatus(
        application_code=application_code,
        matter_code=matter_code or "",
        state=state,
        due_at=utc(due_at) if due_at is not None else None,
        alert=alert,
        tasks=tasks,
        rating=rating,
        last_event_at=utc(last_event_at) if last_event_at is not None else None,
    )


def stored_task(department: str, task: Mapping[str, Any]) -> TaskView:
    """A task from its `task_json`."""
    level = task.get("supervision_level")
    alert = None
    if task.get("alert_raised_at"):
        alert = Alert(
            level=SupervisionLevel(level or SupervisionLevel.NONE),
            escalation=task.get("escalation", 0),
            seconds_left=task.get("seconds_left", 0),
            raised_at=_instant(task["alert_raised_at"]),
        )
    return TaskView(
        department_code=department,
        state=TaskState(task["state"]) if task.get("state") else None,
        task_name=task.get("task_name", ""),
        started_at=_instant_or_none(task.get("started_at")),
        committed_days=task.get("committed_days"),
        day_kind=task.get("day_kind", ""),
        due_at=_instant_or_none(task.get("due_at")),
        provisional=task.get("provisional"),
        paused=task.get("paused"),
        paused_since=_instant_or_none(task.get("paused_since")),
        resumed_at=_instant_or_none(task.get("resumed_at")),
        paused_intervals=tuple(
            PausedInterval(_instant(i["from"]), _instant(i["to"]), i["reason"])
            for i in task.get("paused_intervals", [])
        ),
        paused_seconds=task.get("paused_seconds", 0),
        special_procedure=task.get("special_procedure"),
        special_since=_instant_or_none(task.get("special_since")),
        special_overrun_at=_instant_or_none(task.get("special_overrun_at")),
        assignee=task.get("assignee", ""),
        reason=task.get("reason", ""),
        decided_at=_instant_or_none(task.get("decided_at")),
        supervision_level=SupervisionLevel(level) if level else None,
        alert=alert,
        legal_due_at=_instant_or_none(task.get("legal_due_at")),
    )


def _stored_alert(supervision: Mapping[str, Any]) -> Alert | None:
    if not supervision.get("alert_raised_at"):
        return None
    return Alert(
        level=SupervisionLevel(supervision.get("level") or SupervisionLevel.NONE),
        escalation=supervision.get("escalation", 0),
        seconds_left=supervision.get("seconds_left", 0),
        raised_at=_instant(supervision["alert_raised_at"]),
        due_at=_instant_or_none(supervision.get("due_at")),
        legal_due_at=_instant_or_none(supervision.get("legal_due_at")),
    )


def _time(at: datetime | None) -> str | None:
    return canonical_time(at) if at is not None else None


def _instant(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


def _instant_or_none(text: str | None) -> datetime | None:
    return _instant(text) if text else None
