"""The rules of the two kinds of supervision case: who may act on them, in which state,
with what text. Pure; the workflows' validators call these and turn a `CaseRefused` into
the ApplicationError the department API maps to a problem (another department's case is
the 404 of an unknown one, a role that may not act is a 403, a wrong state a 409, bad
text a 422 naming the field).

A rectification of a bad rating (差评整改):

    open --callback--> called_back --rectification--> rectified --answer--> answered
    answered --the rater's view--> closed

A supervision case (督办件): open (at level 1, 2, ...) --response--> closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from onceonly.workflow.shared import ErrorType

# Who works on a department's rectification: its reviewers and its head.
RECTIFYING_ROLES = frozenset({"reviewer", "department_head"})
# Who writes a department's response to a supervision case: its head (督办 is addressed
# to the head of the body).
RESPONDING_ROLES = frozenset({"department_head"})
MAX_TEXT = 4000
MAX_COMMENT = 1000


class RectificationStatus(StrEnum):
    OPEN = "open"  # waiting for the callback to the rater
    CALLED_BACK = "called_back"  # the rater was called back (回访核实)
    RECTIFIED = "rectified"  # what was put right is recorded (整改)
    ANSWERED = "answered"  # the written answer is out (书面答复); the clock stopped
    CLOSED = "closed"  # the rater's view of the answer is recorded


class RectificationStep(StrEnum):
    CALLBACK = "callback"
    RECTIFICATION = "rectification"
    ANSWER = "answer"
    VIEW = "view"


# The state each step needs, and the state it leaves.
STEPS: dict[RectificationStep, tuple[RectificationStatus, RectificationStatus]] = {
    RectificationStep.CALLBACK: (RectificationStatus.OPEN, RectificationStatus.CALLED_BACK),
    RectificationStep.RECTIFICATION: (
        RectificationStatus.CALLED_BACK,
        RectificationStatus.RECTIFIED,
    ),
    RectificationStep.ANSWER: (RectificationStatus.RECTIFIED, RectificationStatus.ANSWERED),
    RectificationStep.VIEW: (RectificationStatus.ANSWERED, RectificationStatus.CLOSED),
}
# The field of each step's text, as the API names it.
TEXT_FIELD = {
    RectificationStep.CALLBACK: "note",
    RectificationStep.RECTIFICATION: "measures",
    RectificationStep.ANSWER: "answer",
    RectificationStep.VIEW: "comment",
}


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseRefused(Exception):
    def __init__(self, error: ErrorType, message: str) -> None:
        super().__init__(message)
        self.error = error


def check_actor(
    department_code: str, staff_department: str, roles: Sequence[str], allowed: frozenset[str]
) -> None:
    """The case's department only (else "not found"), in a role that may act (else 403)."""
    if staff_department != department_code:
        raise CaseRefused(ErrorType.WRONG_DEPARTMENT, "not a case of your department")
    if not allowed.intersection(roles):
        raise CaseRefused(ErrorType.WRONG_ROLE, f"only {' and '.join(sorted(allowed))} may do this")


def check_text(field: str, text: str, *, required: bool, limit: int = MAX_TEXT) -> None:
    if (required and not text.strip()) or len(text) > limit:
        low = 1 if required else 0
        raise CaseRefused(ErrorType.INVALID_DECISION, f"{field}: {low} to {limit} characters")


def check_rectification_step(
    step: RectificationStep,
    status: RectificationStatus,
    department_code: str,
    staff_department: str,
    roles: Sequence[str],
    text: str,
) -> RectificationStatus:
    """Whether `step` may be taken now by this staff member with this text; the status it
    leaves the rectification in."""
    check_actor(department_code, staff_department, roles, RECTIFYING_ROLES)
    needed, after = STEPS[step]
    if status is RectificationStatus.CLOSED:
        raise CaseRefused(ErrorType.APPLICATION_CLOSED, "the rectification is closed")
    if status is not needed:
        raise CaseRefused(
            ErrorType.TASK_NOT_OPEN,
            f"cannot record the {step.value}: the rectification is {status.value}"
            f" (it needs {needed.value})",
        )
    is_view = step is RectificationStep.VIEW
    check_text(
        TEXT_FIELD[step], text, required=not is_view, limit=MAX_COMMENT if is_view else MAX_TEXT
    )
    return after


def check_response(
    status: CaseStatus,
    department_code: str,
    staff_department: str,
    roles: Sequence[str],
    response: str,
) -> None:
    """A supervision case closes only with its department's written response, given by
    the department head."""
    check_actor(department_code, staff_department, roles, RESPONDING_ROLES)
    if status is CaseStatus.CLOSED:
        raise CaseRefused(ErrorType.APPLICATION_CLOSED, "the supervision case is closed")
    check_text("response", response, required=True)
