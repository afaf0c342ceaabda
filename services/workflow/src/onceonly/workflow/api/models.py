"""The department API's request and response bodies."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from onceonly.workflow.shared import SpecialProcedureKind


class TaskView(BaseModel):
    application_code: str
    matter_code: str
    department_code: str
    task_name: str
    state: str
    committed_days: int
    started_at: str
    due_at: str
    provisional: bool
    supervision_level: str = "none"
    paused: bool = False
    # Days of the matter's kind (working or natural) after today until due_at: 0 on the
    # due day, negative when overdue; null while the clock is paused.
    days_left: int | None = None
    assignee: str = ""
    special_procedure: str = ""
    extended_days: int = 0
    pending_extension_days: int = 0


class DecisionRequest(BaseModel):
    outcome: Literal["approved", "rejected", "supplement_requested"]
    reason: str = Field(default="", max_length=2000)
    missing_materials: list[str] = Field(default_factory=list, max_length=50)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"outcome": "approved"},
                {"outcome": "rejected", "reason": "不符合《户口登记条例》第十条 / Art. 10 not met"},
            ]
        }
    }


class DecisionView(BaseModel):
    application_code: str
    department_code: str
    task_state: str
    application_state: str


class AssignmentRequest(BaseModel):
    """Leave `assignee` out to claim the task yourself; the head names a reviewer."""

    assignee: str | None = Field(default=None, min_length=1, max_length=64)


class SpecialProcedureRequest(BaseModel):
    kind: SpecialProcedureKind = SpecialProcedureKind.ON_SITE_INSPECTION
    note: str = Field(default="", max_length=2000)


class TaskActionView(BaseModel):
    # A task after a claim, an assignment, or a special procedure's start or end.
    application_code: str
    department_code: str
    task_state: str
    assignee: str
    special_procedure: str
    paused: bool


class ReturnRequest(BaseModel):
    """退回重审: the lead department sends an approved opinion back, with its reason."""

    reason: str = Field(min_length=1, max_length=2000)


class DepartmentAddition(BaseModel):
    """加签: a department joins; its limit is the matter's unless given."""

    department_code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    reason: str = Field(min_length=1, max_length=2000)
    task_name: str = Field(default="", max_length=200)
    committed_days: int = Field(default=0, ge=0, le=365)


class DepartmentRemoval(BaseModel):
    """减签: an undecided department leaves, with the reason."""

    reason: str = Field(min_length=1, max_length=2000)


class ExtensionRequest(BaseModel):
    """延期: more days on my department's task, within the matter's bound."""

    days: int = Field(ge=1, le=60)
    reason: str = Field(min_length=1, max_length=2000)


class ExtensionDecision(BaseModel):
    approved: bool
    note: str = Field(default="", max_length=2000)


class AcceptanceReview(BaseModel):
    """受理审查: the window accepts, or refuses with a written decision (不予受理决定)."""

    decision: Literal["accept", "refuse"]
    reason: str = Field(default="", max_length=2000)
    legal_basis: str = Field(default="", max_length=2000)  # 法律依据, for a refusal
    appeal_route: str = Field(default="", max_length=500)  # 救济途径; the default if empty


class AcceptanceReviewView(BaseModel):
    application_code: str
    accepted: bool
    decision_number: str  # 不予受理决定书编号, for a refusal


class JointInspectionRequest(BaseModel):
    """联合踏勘: the lead department sends several departments to one site visit."""

    department_codes: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]] = Field(
        min_length=2, max_length=20
    )
    note: str = Field(min_length=1, max_length=2000)  # where and when


class JointInspectionView(BaseModel):
    application_code: str
    department_codes: list[str]


class ELicenceRevocationRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)

    model_config = {
        "json_schema_extra": {
            "examples": [{"reason": "以欺骗手段取得许可 / obtained by deception"}]
        }
    }


class ELicenceRevocationView(BaseModel):
    number: str
    application_code: str
    revoked_at: str
    reason: str
    revoked_by: str
    # False: it had been revoked before; the first revocation's reason stays.
    first: bool
