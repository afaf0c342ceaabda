"""The rules of a hotline work order's life: who may sign for it, answer it and record
the callback, and in which state. Pure; the workflow's validators call these, and turn a
`WorkOrderRefused` into the ApplicationError the department API maps to a problem.

open --sign--> signed --reply--> answered --callback satisfied--> closed
                                         \\--callback not satisfied--> open (a new round)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from onceonly.workflow.shared import ErrorType

# Who handles a department's orders: its reviewers and its head (not the window, not
# the oversight offices, which only read).
HANDLING_ROLES = frozenset({"reviewer", "department_head"})
MAX_REPLY = 4000
MAX_COMMENT = 1000


class WorkOrderStatus(StrEnum):
    OPEN = "open"  # waiting for the department to sign for it
    SIGNED = "signed"  # being handled
    ANSWERED = "answered"  # replied; waiting for the callback
    CLOSED = "closed"  # the caller was satisfied


class WorkOrderRefused(Exception):
    def __init__(self, error: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error = error


def _check_actor(department_code: str, staff_department: str, roles: Sequence[str]) -> None:
    if staff_department != department_code:
        # "Not yours" is "not found" (the API answers 404).
        raise WorkOrderRefused(ErrorType.WRONG_DEPARTMENT, "not an order of your department")
    if not HANDLING_ROLES.intersection(roles):
        raise WorkOrderRefused(
            ErrorType.WRONG_ROLE, "only reviewers and department heads handle work orders"
        )


def _check_status(status: WorkOrderStatus, wanted: WorkOrderStatus, doing: str) -> None:
    if status is WorkOrderStatus.CLOSED:
        raise WorkOrderRefused(ErrorType.APPLICATION_CLOSED, "the work order is closed")
    if status is not wanted:
        raise WorkOrderRefused(
            ErrorType.TASK_NOT_OPEN, f"cannot {doing}: the work order is {status.value}"
        )


def check_sign(
    status: WorkOrderStatus, department_code: str, staff_department: str, roles: Sequence[str]
) -> None:
    _check_actor(department_code, staff_department, roles)
    _check_status(status, WorkOrderStatus.OPEN, "sign for it")


def check_reply(
    status: WorkOrderStatus,
    department_code: str,
    staff_department: str,
    roles: Sequence[str],
    reply: str,
) -> None:
    _check_actor(department_code, staff_department, roles)
    _check_status(status, WorkOrderStatus.SIGNED, "reply")
    if not reply.strip() or len(reply) > MAX_REPLY:
        raise WorkOrderRefused(ErrorType.INVALID_DECISION, f"reply: 1 to {MAX_REPLY} characters")


def check_callback(
    status: WorkOrderStatus,
    department_code: str,
    staff_department: str,
    roles: Sequence[str],
    comment: str,
) -> None:
    _check_actor(department_code, staff_department, roles)
    _check_status(status, WorkOrderStatus.ANSWERED, "record the callback")
    if len(comment) > MAX_COMMENT:
        raise WorkOrderRefused(
            ErrorType.INVALID_DECISION, f"comment: at most {MAX_COMMENT} characters"
        )


def after_callback(satisfied: bool) -> WorkOrderStatus:
    """Satisfied closes the order; not satisfied sends it back to be signed for again."""
    return WorkOrderStatus.CLOSED if satisfied else WorkOrderStatus.OPEN
