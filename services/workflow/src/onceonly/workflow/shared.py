"""Inputs, outputs and names shared by the workflow, its activities and its callers.

Dataclasses evolve only by adding fields with defaults: running workflows hold old ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

WORKFLOW_NAME = "JointApproval"


class TaskState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    CANCELLED = "cancelled"


class ApplicationState(StrEnum):
    ACCEPTANCE = "acceptance"
    AWAITING_SUPPLEMENT = "awaiting_supplement"
    IN_APPROVAL = "in_approval"
    COMPLETED = "completed"
    REJECTED = "rejected"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPPLEMENT_REQUESTED = "supplement_requested"


class ErrorType(StrEnum):
    """`ApplicationError.type` values that callers map to HTTP problems."""

    WRONG_DEPARTMENT = "WrongDepartment"
    UNKNOWN_TASK = "UnknownTask"
    TASK_NOT_OPEN = "TaskNotOpen"
    APPLICATION_CLOSED = "ApplicationClosed"
    INVALID_DECISION = "InvalidDecision"
    WRONG_REVIEWER = "WrongReviewer"
    SPECIAL_PROCEDURE = "SpecialProcedure"
    NOT_LEAD = "NotLeadDepartment"
    TASK_EXISTS = "TaskExists"
    EXTENSION = "Extension"
    NOT_AT_ACCEPTANCE = "NotAtAcceptance"
    WRONG_ROLE = "WrongRole"


@dataclass
class ContactInput:
    mobile_sealed: str = ""
    mobile_masked: str = ""
    channels: list[str] = field(default_factory=list)
    language: str = "zh"


@dataclass
class AgentInput:
    """帮代办: who submitted for the applicant, masked (the workflow never needs the
    agent's data in the clear), and the applicant's authorisation."""

    name_masked: str = ""
    identifier_masked: str = ""
    mobile_masked: str = ""
    relation: str = ""
    organisation: str = ""
    scope: list[str] = field(default_factory=list)
    valid_from: str = ""  # ISO date
    valid_until: str = ""
    given_by: str = ""  # signed_letter, recorded_consent
    letter_reference: str = ""
    consent_reference: str = ""


@dataclass
class ConsentInput:
    """The applicant's consent to one shared-data check (purpose = the check's name)."""

    purpose: str
    reference: str = ""
    given_at: str = ""  # ISO 8601


@dataclass
class SupervisionPolicy:
    """When e-supervision warns and how often it escalates (电子监察 settings)."""

    yellow_share: float = 0.8  # warn once this share of the committed limit has elapsed,
    yellow_days_left: int = 1  # or when this many days are left, whichever comes first
    escalation_hours: int = 24  # after a red alert, remind at this cadence until decided
    max_escalations: int = 30


@dataclass
class ApplicationInput:
    application_code: str
    matter_code: str
    integrator_id: str
    applicant_kind: str
    materials: list[str]
    contact: ContactInput
    submitted_at: str  # ISO 8601
    supervision: SupervisionPolicy = field(default_factory=SupervisionPolicy)
    identifier_sealed: str = ""  # the applicant's ID number / USCC, sealed (never plain)
    form_json: str = ""
    agent: AgentInput | None = None
    # Since CONSENT_PATCH, a shared-data check runs only with the applicant's consent.
    consents: list[ConsentInput] = field(default_factory=list)
    # The division whose bodies decide (jurisdiction); "" in events from before it.
    competent_region: str = ""


@dataclass
class TaskSnapshot:
    department_code: str
    task_name: str
    state: str
    committed_days: int
    started_at: str
    due_at: str
    provisional: bool
    decided_at: str = ""
    decided_by: str = ""
    reason: str = ""
    supervision_level: str = "none"
    paused: bool = False
    assignee: str = ""
    special_procedure: str = ""
    extended_days: int = 0  # approved extensions (延期), in the matter's day kind
    pending_extension_days: int = 0  # asked for, not yet decided
    removed: bool = False  # the department left the application (减签)


@dataclass
class ApplicationSnapshot:
    application_code: str
    matter_code: str
    state: str
    accepted_at: str = ""
    due_at: str = ""
    provisional: bool = False
    missing_materials: list[str] = field(default_factory=list)
    tasks: list[TaskSnapshot] = field(default_factory=list)
    elicence_number: str = ""
    supervision_level: str = "none"
    lead_department: str = ""
    agent: AgentInput | None = None  # masked
    # The shared-data checks with their provenance, and those not run for want of consent.
    checks: list[CheckOutcome] = field(default_factory=list)
    checks_without_consent: list[str] = field(default_factory=list)
    rule_version: str = ""


@dataclass
class DecisionInput:
    department_code: str
    outcome: str
    staff_id: str
    staff_department: str
    reason: str = ""
    missing_materials: list[str] = field(default_factory=list)
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class AssignmentInput:
    department_code: str
    assignee: str
    staff_id: str
    staff_department: str
    staff_roles: list[str] = field(default_factory=list)


class SpecialProcedureKind(StrEnum):
    EXPERT_REVIEW = "expert_review"
    HEARING = "hearing"
    PUBLIC_NOTICE = "public_notice"
    ON_SITE_INSPECTION = "on_site_inspection"


@dataclass
class SpecialProcedureInput:
    department_code: str
    staff_id: str
    staff_department: str
    kind: str = ""
    note: str = ""
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class TaskActionResult:
    application_code: str
    department_code: str
    task_state: str
    assignee: str = ""
    special_procedure: str = ""
    paused: bool = False


@dataclass
class DecisionResult:
    application_code: str
    department_code: str
    task_state: str
    application_state: str


@dataclass
class ReturnInput:
    """The lead department sends one department's decision back for re-review."""

    department_code: str  # the task returned
    reason: str
    staff_id: str
    staff_department: str
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class DepartmentChangeInput:
    """A department added to (加签) or removed from (减签) a running application."""

    department_code: str
    reason: str
    staff_id: str
    staff_department: str
    staff_roles: list[str] = field(default_factory=list)
    task_name: str = ""  # for an added department
    committed_days: int = 0  # for an added department; 0: the matter's committed limit


@dataclass
class ExtensionRequestInput:
    department_code: str
    days: int
    reason: str
    staff_id: str
    staff_department: str
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class ExtensionDecisionInput:
    department_code: str
    approved: bool
    staff_id: str
    staff_department: str
    note: str = ""
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class AcceptanceReviewInput:
    """受理审查: window staff accept an application, or refuse it (不予受理决定) with a
    reason, the legal basis and the appeal route."""

    accept: bool
    staff_id: str
    staff_department: str
    reason: str = ""
    legal_basis: str = ""
    appeal_route: str = ""
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class AcceptanceReviewResult:
    application_code: str
    accepted: bool
    decision_number: str = ""  # of a refusal


@dataclass
class JointInspectionInput:
    """联合踏勘: the lead department sends several departments to one site visit."""

    department_codes: list[str]
    note: str  # where and when
    staff_id: str
    staff_department: str
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class JointInspectionResult:
    application_code: str
    department_codes: list[str]


@dataclass
class AddDaysRequest:
    """Move a clock's deadlines later by `days` of `day_kind` (an approved extension)."""

    due_at: datetime
    yellow_at: datetime
    days: int
    day_kind: str
    legal_due_at: datetime | None = None  # moved by the same days (since LEGAL_LIMIT_PATCH)


@dataclass
class WithdrawalInput:
    reason: str = ""


@dataclass
class SupplementInput:
    materials: list[str] = field(default_factory=list)


@dataclass
class PublishRequest:
    """One event for an activity to publish; the id is fixed by the workflow."""

    stream: str
    event_id: str
    application_code: str
    ce_type: str
    time: datetime  # workflow time
    # The event as data: an approval_events dataclass of the type named by ce_type
    # (a dict once it has crossed into the activity).
    event: Any = None
    # The serialized protobuf, base64, as activities scheduled before events went as
    # data carried it (they may still be pending when a worker with this code starts).
    data_b64: str = ""
    # The application's tasks once this event is out, for the department API's task
    # list (written by the publishing activity after the event: no task shows before
    # its start is published). None: not carried (older workers, held events).
    task_list: TaskListUpdate | None = None


@dataclass
class TaskListUpdate:
    """What the task list shows of one application, as of `version` (increasing within
    the application's run; an older version never overwrites a newer one)."""

    matter_code: str
    application_state: str
    version: int
    tasks: list[TaskSnapshot] = field(default_factory=list)


@dataclass
class PublishBatch:
    """Events for one activity to publish, in this order."""

    requests: list[PublishRequest]


@dataclass
class ApplicationResult:
    application_code: str
    state: str
    elicence_number: str = ""


@dataclass
class MaterialSpec:
    code: str
    deficiency_tolerable: bool = False
    replaced_by_check: str = ""


@dataclass
class TaskSpec:
    department_code: str
    task_name: str
    committed_days: int
    notify_applicant: bool = True
    legal_days: int = 0  # 法定时限; 0: none in the catalogue (and in older histories)


@dataclass
class MatterSnapshot:
    """The catalogue entry as it was when the application started (kept in history)."""

    code: str
    name: str
    day_kind: str
    committed_days: int
    tasks: list[TaskSpec]
    materials: list[MaterialSpec]
    elicence_type: str = ""
    supplement_days: int = 20
    shared_data_checks: list[str] = field(default_factory=list)
    auto_approval: bool = False
    elicence_valid_days: int = 0  # 0: long-term
    lead_department: str = ""  # 牵头部门; empty for one department, and in older histories
    extension_days: int = 0  # the most days one task may be extended by in total
    # 受理审查: window staff accept or refuse within this many working days, or the
    # application counts as accepted (Administrative Licensing Law art. 32); 0: no review.
    acceptance_review_days: int = 0
    joint_inspection: bool = False  # 联合踏勘 allowed
    legal_days: int = 0  # 法定时限 of the whole matter; 0: none (and in older histories)
    # 特别程序: the most days (of day_kind) each kind may take before it alerts.
    special_procedure_max_days: dict[str, int] = field(default_factory=dict)


@dataclass
class DeadlineRequest:
    accepted_at: datetime
    day_kind: str
    limits: list[int]
    yellow_share: float = 0.8
    yellow_days_left: int = 1


@dataclass
class DeadlineResult:
    due_at: list[datetime]  # the end of the due day in China Standard Time, per limit
    provisional: list[bool]
    yellow_at: list[datetime] = field(default_factory=list)  # when yellow is due


@dataclass
class ExtendRequest:
    """Move a clock's deadlines by the days a pause took (supplement, special procedure)."""

    due_at: datetime
    yellow_at: datetime
    paused_at: datetime
    resumed_at: datetime
    day_kind: str
    legal_due_at: datetime | None = None  # moved by the same days (since LEGAL_LIMIT_PATCH)


@dataclass
class ExtendResult:
    due_at: datetime
    yellow_at: datetime
    provisional: bool
    legal_due_at: datetime | None = None  # set when the request had a legal deadline


@dataclass
class MatterRequest:
    matter_code: str
    # The matter as published in this division (its local variants); "" the province's.
    region: str = ""


@dataclass
class ChecksRequest:
    application_code: str
    applicant_kind: str
    identifier_sealed: str
    checks: list[str]
    form_json: str = ""


@dataclass
class CheckOutcome:
    check: str
    passed: bool
    reason: str
    reason_zh: str = ""
    # Provenance (since CONSENT_PATCH's activity): registry, record, when, and why.
    registry: str = ""
    record_reference: str = ""
    checked_at: str = ""  # ISO 8601
    code: str = ""
    consent_reference: str = ""


@dataclass
class ChecksResult:
    outcomes: list[CheckOutcome]
    rule_version: str = ""  # the rules' version (checks.RULES_VERSION) applied


@dataclass
class ELicenceRequest:
    application_code: str
    matter_code: str
    licence_type: str
    holder_sealed: str
    issued_at: datetime  # workflow time
    valid_days: int = 0


@dataclass
class ELicenceResult:
    number: str
    holder_masked: str
    valid_until: str = ""  # ISO 8601; empty for long-term
    # The signed token its QR code carries (empty: issued unsigned), and the key's id.
    token: str = ""
    key_id: str = ""


@dataclass
class CalendarUpdate:
    """The working-day calendar changed (a new year's notice): recompute provisional
    deadlines."""

    reason: str = ""


@dataclass
class RecomputeRequest:
    accepted_at: datetime
    days: int
    day_kind: str
    pauses: list[list[datetime]] = field(default_factory=list)  # [paused_at, resumed_at]
    yellow_share: float = 0.8
    yellow_days_left: int = 1
    legal_days: int = 0  # recompute the legal deadline too (0: the clock has none)
