"""Inputs and outputs of the Rectification and SupervisionCase workflows, their Updates
and activities: dataclasses only (evolve them by adding fields with defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RECTIFICATION_WORKFLOW = "Rectification"
SUPERVISION_CASE_WORKFLOW = "SupervisionCase"
RECTIFICATION_KIND = "rectification"
SUPERVISION_CASE_KIND = "supervision_case"


@dataclass
class RectificationInput:
    case_code: str
    application_code: str
    department_code: str
    rating_level: int
    rated_at: str  # ISO 8601, UTC
    matter_code: str = ""
    rating_comment: str = ""


@dataclass
class RectificationClockRequest:
    rated_at: datetime


@dataclass
class RectificationClock:
    limit_days: int
    due_at: datetime
    yellow_at: datetime


@dataclass
class CaseLevelInput:
    addressee: str  # case_clocks.ADDRESSEES
    response_days: int


@dataclass
class SupervisionCaseInput:
    case_code: str
    application_code: str
    department_code: str  # who must respond
    levels: list[CaseLevelInput]
    opened_at: str  # ISO 8601: the red alert's time
    matter_code: str = ""
    clock_department_code: str = ""  # the clock that went red ("" the application's)
    clock_due_at: str = ""  # ISO 8601: the committed deadline that was missed


@dataclass
class ResponseDueRequest:
    start: datetime
    days: int


@dataclass
class ResponseDue:
    due_at: datetime


@dataclass
class CaseActor:
    staff_id: str = ""
    staff_department: str = ""
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class RectificationStepInput(CaseActor):
    step: str = ""  # cases.RectificationStep
    text: str = ""  # the note, measures, answer, or the rater's comment
    satisfied: bool = False  # the rater's view (step "view")


@dataclass
class CaseResponseInput(CaseActor):
    response: str = ""


@dataclass
class RectificationView:
    """A rectification as its workflow answers (a query) and as the department's list shows
    it."""

    case_code: str
    application_code: str
    matter_code: str
    department_code: str
    rating_level: int
    rating_comment: str
    rated_at: str
    status: str
    level: str  # of its clock: none, yellow, red
    limit_days: int = 0
    due_at: datetime | None = None
    yellow_at: datetime | None = None
    called_back_at: datetime | None = None
    callback_note: str = ""
    rectified_at: datetime | None = None
    measures: str = ""
    answered_at: datetime | None = None
    answer: str = ""
    late: bool | None = None
    rater_satisfied: bool | None = None
    rater_comment: str = ""
    closed_at: datetime | None = None
    version: int = 0


@dataclass
class SupervisionCaseView:
    """A supervision case as its workflow answers and as the department's list shows it."""

    case_code: str
    application_code: str
    matter_code: str
    department_code: str
    clock_department_code: str
    status: str
    level: int  # 1-based, of `levels`
    addressee: str
    opened_at: str
    clock_due_at: str = ""
    response_due_at: datetime | None = None
    responded_at: datetime | None = None
    response: str = ""
    late: bool | None = None
    version: int = 0


@dataclass
class CaseEvent:
    """One event of a case as the workflow hands it to the publishing activity: the
    protobuf message's name in supervision.proto and its fields (JSON values: times as
    ISO 8601 strings, the level as its name, the actor as an object)."""

    event_id: str
    type: str
    application_code: str
    at: datetime
    fields: dict[str, Any]


@dataclass
class CasePublish:
    event: CaseEvent
    kind: str  # RECTIFICATION_KIND, SUPERVISION_CASE_KIND
    # The case as of the event, for the department's list (JSON values).
    view: dict[str, Any]
