"""A department's task in a joint approval, and the rules for acting on it. Pure.

The rules raise `ApplicationError`s with an `ErrorType` that the department API maps to
HTTP problems; the workflow's update validators call them, so a refused action changes
nothing and leaves nothing in the history.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from temporalio.exceptions import ApplicationError

from onceonly.workflow.approval_events import Clock
from onceonly.workflow.shared import (
    ApplicationState,
    ErrorType,
    Outcome,
    SpecialProcedureKind,
    TaskSnapshot,
    TaskState,
)
from onceonly.workflow.supervision_clock import Level

CLOSED = frozenset(
    {
        ApplicationState.COMPLETED,
        ApplicationState.REJECTED,
        ApplicationState.REFUSED,
        ApplicationState.WITHDRAWN,
    }
)
DECIDED = frozenset({TaskState.APPROVED, TaskState.REJECTED, TaskState.CANCELLED})
HEAD = "department_head"
WINDOW = "window"
SUPERVISION = "supervision"


@dataclass
class Task:
    department_code: str
    task_name: str
    committed_days: int
    started_at: datetime
    due_at: datetime
    provisional: bool
    notify_applicant: bool = True  # of its own decision (the matter says)
    state: TaskState = TaskState.OPEN
    decided_at: datetime | None = None
    decided_by: str = ""
    reason: str = ""
    supervision_level: Level = Level.NONE
    paused: bool = False
    assignee: str = ""
    special_procedure: str = ""
    extended_days: int = 0
    pending_extension: tuple[int, str] | None = None  # (days, reason) asked for
    removed: bool = False
    joint_inspection: bool = False  # its special procedure is a joint on-site inspection

    @property
    def decided(self) -> bool:
        return self.state in DECIDED

    def reopen(self) -> None:
        """Returned for re-review: open again, the decision gone (its event stays)."""
        self.state = TaskState.OPEN
        self.decided_at, self.decided_by, self.reason = None, "", ""

    def clock(self, day_kind: str, *, paused: bool = False) -> Clock:
        return Clock(
            committed_days=self.committed_days,
            day_kind=day_kind,
            started_at=self.started_at,
            due_at=self.due_at,
            paused=paused,
            provisional=self.provisional,
        )

    def decide(self, outcome: Outcome, staff_id: str, reason: str, at: datetime) -> None:
        self.state = TaskState(outcome.value)
        self.decided_at, self.decided_by, self.reason = at, staff_id, reason

    def snapshot(self) -> TaskSnapshot:
        return TaskSnapshot(
            department_code=self.department_code,
            task_name=self.task_name,
            state=self.state,
            committed_days=self.committed_days,
            started_at=self.started_at.isoformat(),
            due_at=self.due_at.isoformat(),
            provisional=self.provisional,
            decided_at=self.decided_at.isoformat() if self.decided_at else "",
            decided_by=self.decided_by,
            reason=self.reason,
            supervision_level=self.supervision_level,
            paused=self.paused,
            assignee=self.assignee,
            special_procedure=self.special_procedure,
            extended_days=self.extended_days,
            pending_extension_days=self.pending_extension[0] if self.pending_extension else 0,
            removed=self.removed,
        )


def tells_applicant(task: Task, outcome: Outcome, tasks_in_matter: int) -> bool:
    """Whether the applicant hears of this decision by itself (notify sends only events
    that carry a contact): a supplement request always; an approval when the matter
    announces it and it is not the only task (the completion tells); never a rejection
    (the application's rejection tells, once)."""
    if outcome is Outcome.SUPPLEMENT_REQUESTED:
        return True
    if outcome is Outcome.REJECTED or tasks_in_matter < 2:
        return False
    return task.notify_applicant


# -- rules for staff actions --------------------------------------------------------------


def task_for(
    tasks: dict[str, Task],
    state: ApplicationState,
    *,
    withdrawn: bool,
    application_code: str,
    department_code: str,
    staff_department: str,
) -> Task:
    """The task a member of staff may act on, or the ApplicationError saying why not."""
    if state in CLOSED or withdrawn:
        raise ApplicationError(
            f"application {application_code} is {state}", type=ErrorType.APPLICATION_CLOSED
        )
    if staff_department != department_code:
        raise ApplicationError(
            "staff may act only on their own department's task", type=ErrorType.WRONG_DEPARTMENT
        )
    task = tasks.get(department_code)
    if task is None:
        raise ApplicationError(
            f"no task of {department_code} in {application_code}", type=ErrorType.UNKNOWN_TASK
        )
    return task


def require_open(task: Task, *, started: bool, deciding: Collection[str]) -> None:
    if not started:
        raise ApplicationError(
            "the task is being started; retry in a moment", type=ErrorType.TASK_NOT_OPEN
        )
    if task.state != TaskState.OPEN or task.department_code in deciding:
        raise ApplicationError(
            f"the task of {task.department_code} is {task.state}, not open",
            type=ErrorType.TASK_NOT_OPEN,
        )


def require_assignee(task: Task, staff_id: str, roles: Collection[str]) -> None:
    if task.assignee and task.assignee != staff_id and HEAD not in roles:
        raise ApplicationError(
            f"the task is assigned to {task.assignee}", type=ErrorType.WRONG_REVIEWER
        )


def require_no_special_procedure(task: Task) -> None:
    if task.special_procedure:
        raise ApplicationError(
            f"the task is in a special procedure ({task.special_procedure}); end it first",
            type=ErrorType.SPECIAL_PROCEDURE,
        )


def check_decision(outcome: str, reason: str, missing_materials: Collection[str] = ()) -> Outcome:
    try:
        decided = Outcome(outcome)
    except ValueError:
        raise ApplicationError(
            f"unknown outcome {outcome!r}", type=ErrorType.INVALID_DECISION
        ) from None
    if any(not code.strip() or len(code) > 60 for code in missing_materials):
        raise ApplicationError(
            "name each missing material by its code", type=ErrorType.INVALID_DECISION
        )
    if decided is Outcome.REJECTED and not reason.strip():
        raise ApplicationError(
            "a rejection needs its legal reason", type=ErrorType.INVALID_DECISION
        )
    return decided


def check_assignment(staff_id: str, roles: Collection[str], assignee: str) -> None:
    if not assignee.strip():
        raise ApplicationError("name the reviewer", type=ErrorType.INVALID_DECISION)
    if assignee != staff_id and HEAD not in roles:
        raise ApplicationError(
            "only the department head assigns a task to someone else",
            type=ErrorType.WRONG_REVIEWER,
        )


def check_special_start(task: Task, kind: str) -> None:
    if task.special_procedure:
        raise ApplicationError(
            f"a special procedure ({task.special_procedure}) is already under way",
            type=ErrorType.SPECIAL_PROCEDURE,
        )
    if kind not in set(SpecialProcedureKind):
        raise ApplicationError(
            f"unknown special procedure {kind!r}", type=ErrorType.INVALID_DECISION
        )


def check_special_end(task: Task, note: str) -> None:
    if not task.special_procedure:
        raise ApplicationError(
            "no special procedure is under way", type=ErrorType.SPECIAL_PROCEDURE
        )
    if task.joint_inspection and not note.strip():
        raise ApplicationError(
            "record the department's finding of the joint inspection",
            type=ErrorType.INVALID_DECISION,
        )


# -- rules for the window (受理审查) and joint inspections (联合踏勘) --------------------


def check_review(
    roles: Collection[str],
    *,
    accept: bool,
    reason: str,
    legal_basis: str,
    awaiting_review: bool,
    awaiting_supplement: bool,
) -> None:
    """Window staff accept an application waiting for their review, or refuse one that
    waits for the review or for a supplement, with the reason and its legal basis."""
    if WINDOW not in roles:
        raise ApplicationError(
            "only window staff (受理窗口) accept or refuse an application",
            type=ErrorType.WRONG_ROLE,
        )
    if not awaiting_review and not (awaiting_supplement and not accept):
        raise ApplicationError(
            "the application is not waiting for the window's decision",
            type=ErrorType.NOT_AT_ACCEPTANCE,
        )
    if not accept and not (reason.strip() and legal_basis.strip()):
        raise ApplicationError(
            "a refusal (不予受理) gives its reason and its legal basis",
            type=ErrorType.INVALID_DECISION,
        )


def check_joint_inspection(
    tasks: dict[str, Task], department_codes: list[str], *, allowed: bool, note: str
) -> list[Task]:
    """The attending tasks: two or more distinct, open departments, none in a special
    procedure, of a matter that allows joint inspections."""
    if not allowed:
        raise ApplicationError(
            "this matter has no joint on-site inspection", type=ErrorType.SPECIAL_PROCEDURE
        )
    if len(set(department_codes)) != len(department_codes) or len(department_codes) < 2:
        raise ApplicationError(
            "a joint inspection names two or more different departments",
            type=ErrorType.INVALID_DECISION,
        )
    if not note.strip():
        raise ApplicationError(
            "say where and when the inspection takes place", type=ErrorType.INVALID_DECISION
        )
    attending = []
    for code in department_codes:
        task = tasks.get(code)
        if task is None or task.removed:
            raise ApplicationError(f"no task of {code} to attend", type=ErrorType.UNKNOWN_TASK)
        if task.state != TaskState.OPEN:
            raise ApplicationError(
                f"the task of {code} is {task.state}", type=ErrorType.TASK_NOT_OPEN
            )
        if task.special_procedure:
            raise ApplicationError(
                f"{code} is in a special procedure ({task.special_procedure})",
                type=ErrorType.SPECIAL_PROCEDURE,
            )
        attending.append(task)
    return attending


# -- rules for the lead department's and the extension's operations ---------------------


def require_lead(lead_department: str, staff_department: str, roles: Collection[str]) -> None:
    """Returns and added or removed departments are the lead department's (or the
    supervision office's, for adding and removing)."""
    if not lead_department:
        raise ApplicationError("this application has no lead department", type=ErrorType.NOT_LEAD)
    if staff_department != lead_department and SUPERVISION not in roles:
        raise ApplicationError(
            f"only the lead department ({lead_department}) may do this", type=ErrorType.NOT_LEAD
        )


def require_reason(reason: str) -> None:
    if not reason.strip():
        raise ApplicationError("give the reason", type=ErrorType.INVALID_DECISION)


def check_return(task: Task, lead_department: str, returning: Collection[str]) -> None:
    if task.department_code == lead_department:
        raise ApplicationError(
            "the lead department's own decision is not returned to itself",
            type=ErrorType.INVALID_DECISION,
        )
    if task.state != TaskState.APPROVED or task.department_code in returning:
        raise ApplicationError(
            f"only an approved opinion can be returned; the task of {task.department_code}"
            f" is {task.state}",
            type=ErrorType.TASK_NOT_OPEN,
        )


def check_added(tasks: dict[str, Task], department_code: str, committed_days: int) -> None:
    if department_code in tasks:
        raise ApplicationError(
            f"{department_code} already has a task in this application",
            type=ErrorType.TASK_EXISTS,
        )
    if not 0 <= committed_days <= 365:
        raise ApplicationError(
            "committed days must be between 0 (the matter's limit) and 365",
            type=ErrorType.INVALID_DECISION,
        )


def check_removed(tasks: dict[str, Task], department_code: str, lead_department: str) -> Task:
    task = tasks.get(department_code)
    if task is None or task.removed:
        raise ApplicationError(
            f"no task of {department_code} to remove", type=ErrorType.UNKNOWN_TASK
        )
    if department_code == lead_department:
        raise ApplicationError(
            "the lead department cannot be removed", type=ErrorType.INVALID_DECISION
        )
    if task.state not in (TaskState.OPEN, TaskState.SUPPLEMENT_REQUESTED):
        raise ApplicationError(
            f"the task of {department_code} is {task.state}; only an undecided department"
            " can be removed",
            type=ErrorType.TASK_NOT_OPEN,
        )
    if not any(t for t in tasks.values() if not t.removed and t is not task):
        raise ApplicationError(
            "the last department cannot be removed", type=ErrorType.INVALID_DECISION
        )
    return task


def check_extension_request(task: Task, days: int, bound: int) -> None:
    if task.pending_extension is not None:
        raise ApplicationError(
            "an extension is already waiting for its decision", type=ErrorType.EXTENSION
        )
    left = bound - task.extended_days
    if not 1 <= days <= left:
        raise ApplicationError(
            f"an extension is 1 to {left} days here (at most {bound} in total)",
            type=ErrorType.INVALID_DECISION,
        )


def check_extension_decision(task: Task, roles: Collection[str]) -> None:
    if HEAD not in roles:
        raise ApplicationError(
            "only the department head approves or refuses an extension",
            type=ErrorType.WRONG_REVIEWER,
        )
    if task.pending_extension is None:
        raise ApplicationError("no extension is waiting for a decision", type=ErrorType.EXTENSION)
