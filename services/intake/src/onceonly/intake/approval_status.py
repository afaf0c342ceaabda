"""Where an application stands in the approval, as intake shows it to its integrator.

The fold of the workflow's approval events is the approval library's
(`onceonly.approval.fold`), the same one tracking uses. This module is intake's adapter
around it: the names its OpenAPI document gives the states, the status of an
application nothing has been heard of yet, what is still missing, and the JSON of
`intake.approval_status` (`stored_*`, `*_json`). That JSON keeps the shape it always had
(rows stored before read back as they were) and holds what intake shows: its status,
reason, missing materials (and until when acceptance allows them), the application's
clock, its latest steps and, per department, the task's state, name, clock, reason,
decision time, running special procedure and open supplement request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from onceonly.approval import (
    FINISHED,
    ApplicationState,
    ApprovalStatus,
    Clock,
    Step,
    StepKind,
    TaskState,
    TaskView,
)
from onceonly.approval.fold import utc

# The states as the OpenAPI document names them (an inline enum; tests keep these equal
# to the library's names). `unknown` is not one: intake knows every application it has.
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

# An application intake has accepted for the approval, before any approval event.
NOT_EXAMINED = ApprovalStatus(state=ApplicationState.SUBMITTED)


def outstanding_materials(state: ApprovalStatus, supplied: set[str]) -> tuple[str, ...]:
    """What is still missing: asked for, and not provided in a supplement since."""
    if state.state in FINISHED and state.state is not ApplicationState.REFUSED:
        return ()
    return tuple(code for code in state.missing_materials if code not in supplied)


def clock_json(clock: Clock | None) -> dict[str, Any] | None:
    if clock is None:
        return None
    return {
        "committed_days": clock.committed_days,
        "day_kind": clock.day_kind or "working",
        "started_at": _iso(clock.started_at),
        "due_at": _iso(clock.due_at),
        "paused": clock.paused,
        "provisional": clock.provisional,
    }


def tasks_json(state: ApprovalStatus) -> dict[str, dict[str, Any]]:
    return {department: task_json(task) for department, task in state.tasks.items()}


def task_json(task: TaskView) -> dict[str, Any]:
    found: dict[str, Any] = {
        "state": task.state_or_started.value,
        "task_name": task.task_name,
        "reason": task.reason,
        "decided_at": _iso(task.decided_at),
        "special_procedure": task.special_procedure,
    }
    if task.clock is not None:
        found["clock"] = clock_json(task.clock)
    # Only while a request is open: rows without them read back as they were.
    if task.supplement_materials:
        found["supplement_materials"] = list(task.supplement_materials)
    if task.supplement_due_at is not None:
        found["supplement_due_at"] = _iso(task.supplement_due_at)
    return found


def steps_json(state: ApprovalStatus) -> list[dict[str, Any]]:
    return [
        {
            "kind": step.kind.value,
            "at": _iso(step.at),
            "department_code": step.department_code,
            "detail": step.detail,
        }
        for step in state.steps
    ]


def stored_steps(steps: list[Mapping[str, Any]]) -> tuple[Step, ...]:
    found = []
    for step in steps:
        at = _instant(step.get("at"))
        if at is not None and step.get("kind") in StepKind.__members__.values():
            found.append(
                Step(
                    kind=StepKind(step["kind"]),
                    at=at,
                    department_code=step.get("department_code", ""),
                    detail=step.get("detail", ""),
                )
            )
    return tuple(found)


def stored_status(
    *,
    status: str,
    reason: str,
    missing_materials: tuple[str, ...],
    missing_since: datetime | None,
    clock: Mapping[str, Any] | None,
    tasks: Mapping[str, Mapping[str, Any]],
    elicence_number: str,
    last_event_at: datetime | None,
    elicence_revoked_at: datetime | None = None,
    elicence_revocation_reason: str = "",
    supplement_due_at: datetime | None = None,
    steps: list[Mapping[str, Any]] | None = None,
) -> ApprovalStatus:
    """The status from the columns of its `intake.approval_status` row."""
    return ApprovalStatus(
        state=ApplicationState(status),
        reason=reason,
        missing_materials=missing_materials,
        missing_since=utc(missing_since) if missing_since is not None else None,
        clock=stored_clock(clock),
        tasks={department: stored_task(department, task) for department, task in tasks.items()},
        elicence_number=elicence_number,
        last_event_at=utc(last_event_at) if last_event_at is not None else None,
        elicence_revoked_at=utc(elicence_revoked_at) if elicence_revoked_at else None,
        elicence_revocation_reason=elicence_revocation_reason,
        supplement_due_at=utc(supplement_due_at) if supplement_due_at is not None else None,
        steps=stored_steps(steps or []),
    )


def stored_task(department: str, task: Mapping[str, Any]) -> TaskView:
    return TaskView(
        department_code=department,
        state=TaskState(task.get("state") or TaskState.STARTED),
        task_name=task.get("task_name", ""),
        clock=stored_clock(task.get("clock")),
        reason=task.get("reason") or "",
        decided_at=_instant(task.get("decided_at")),
        special_procedure=task.get("special_procedure"),
        supplement_materials=tuple(task.get("supplement_materials") or ()),
        supplement_due_at=_instant(task.get("supplement_due_at")),
    )


def stored_clock(clock: Mapping[str, Any] | None) -> Clock | None:
    if not clock:
        return None
    return Clock(
        committed_days=clock.get("committed_days", 0),
        day_kind=clock.get("day_kind", ""),
        started_at=_instant(clock.get("started_at")),
        due_at=_instant(clock.get("due_at")),
        paused=clock.get("paused", False),
        provisional=clock.get("provisional", False),
    )


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(text: str | None) -> datetime | None:
    return utc(datetime.fromisoformat(text)) if text else None
