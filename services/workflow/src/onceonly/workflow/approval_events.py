"""The events a joint approval emits, as domain dataclasses (pure).

The workflow builds these and hands them to the publishing activity as data; the
activity maps them to the protobuf messages of protos/onceonly/events/v1 with
`event_messages.to_message`. Field names are the protobuf's, so the mapping is one rule
per kind of value (instant, clock, actor, contact, outcome), not one per event.

Like every dataclass that crosses into Temporal: evolve only by adding fields with
defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from onceonly.workflow.acceptance import AcceptanceOutcome
from onceonly.workflow.shared import CheckOutcome, ContactInput, Outcome
from onceonly.workflow.supervision_clock import Level

APPROVAL_EVENTS = "approval-events"
SUPERVISION_ALERTS = "supervision-alerts"
_V1 = "onceonly.events.v1."


class ActorKind(StrEnum):
    SYSTEM = "system"
    STAFF = "staff"
    APPLICANT = "applicant"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    department_code: str = ""


SYSTEM = Actor(ActorKind.SYSTEM, "workflow")
AUTO_APPROVER = "auto-approval"


def staff(staff_id: str, department_code: str) -> Actor:
    return Actor(ActorKind.STAFF, staff_id, department_code)


@dataclass(frozen=True)
class Clock:
    """A clock as an event shows it: the limit, the day kind and the deadline."""

    committed_days: int
    day_kind: str
    started_at: datetime | None
    due_at: datetime | None
    paused: bool = False
    provisional: bool = False


@dataclass(frozen=True)
class ApprovalEvent:
    TYPE: ClassVar[str]
    STREAM: ClassVar[str] = APPROVAL_EVENTS

    @property
    def department(self) -> str:
        """The department whose event this is ("" for the application's): event ids
        count occurrences per type and department."""
        return str(getattr(self, "department_code", ""))


@dataclass(frozen=True)
class ApplicationAccepted(ApprovalEvent):
    TYPE = _V1 + "ApplicationAccepted"
    matter_code: str
    outcome: AcceptanceOutcome
    clock: Clock
    contact: ContactInput
    missing_materials: list[str] = field(default_factory=list)
    reason: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)
    auto_approved: bool = False
    actor: Actor = SYSTEM
    supplement_due_at: datetime | None = None
    # A staff refusal (不予受理决定): the written decision's number, legal basis and appeal route.
    decision_number: str = ""
    legal_basis: str = ""
    appeal_route: str = ""
    # 授权与数据来源: checks not run for want of consent, and the rules' version applied.
    checks_without_consent: list[str] = field(default_factory=list)
    rule_version: str = ""


@dataclass(frozen=True)
class TaskStarted(ApprovalEvent):
    TYPE = _V1 + "TaskStarted"
    department_code: str
    task_name: str
    clock: Clock
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class TaskDecided(ApprovalEvent):
    TYPE = _V1 + "TaskDecided"
    department_code: str
    outcome: Outcome
    reason: str
    clock: Clock
    actor: Actor
    contact: ContactInput | None = None  # only when the applicant hears of it
    missing_materials: list[str] = field(default_factory=list)
    supplement_due_at: datetime | None = None


@dataclass(frozen=True)
class ClocksResumed(ApprovalEvent):
    TYPE = _V1 + "ClocksResumed"
    department_codes: list[str]
    materials: list[str]
    actor: Actor


@dataclass(frozen=True)
class TaskCancelled(ApprovalEvent):
    TYPE = _V1 + "TaskCancelled"
    department_code: str
    reason: str
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class TaskAssigned(ApprovalEvent):
    TYPE = _V1 + "TaskAssigned"
    department_code: str
    assignee: str
    actor: Actor


@dataclass(frozen=True)
class SpecialProcedureStarted(ApprovalEvent):
    TYPE = _V1 + "SpecialProcedureStarted"
    department_code: str
    kind: str
    note: str
    clock: Clock
    actor: Actor
    # A joint on-site inspection (联合踏勘): every department that attends it.
    attending_departments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SpecialProcedureEnded(ApprovalEvent):
    TYPE = _V1 + "SpecialProcedureEnded"
    department_code: str
    kind: str
    note: str
    clock: Clock
    actor: Actor


@dataclass(frozen=True)
class ApplicationCompleted(ApprovalEvent):
    TYPE = _V1 + "ApplicationCompleted"
    matter_code: str
    elicence_number: str
    elicence_type: str
    clock: Clock
    contact: ContactInput
    elicence_valid_until: datetime | None = None
    elicence_holder_masked: str = ""
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class ApplicationRejected(ApprovalEvent):
    TYPE = _V1 + "ApplicationRejected"
    matter_code: str
    department_code: str
    reason: str
    contact: ContactInput
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class ApplicationWithdrawn(ApprovalEvent):
    TYPE = _V1 + "ApplicationWithdrawn"
    reason: str
    contact: ContactInput
    actor: Actor


@dataclass(frozen=True)
class SupervisionAlert(ApprovalEvent):
    TYPE = _V1 + "SupervisionAlert"
    STREAM = SUPERVISION_ALERTS
    matter_code: str
    department_code: str  # "" for the application's overall clock
    level: Level
    escalation: int
    clock: Clock
    seconds_left: int
    raised_at: datetime
    actor: Actor = SYSTEM
    legal_due_at: datetime | None = None  # the clock's legal deadline, if supervised
    case_code: str = ""  # the supervision case a red alert opens (SUPERVISION_CASES_PATCH)


@dataclass(frozen=True)
class SpecialProcedureOverrun(ApprovalEvent):
    """A special procedure ran past the catalogue's maximum for its kind (once each)."""

    TYPE = _V1 + "SpecialProcedureOverrun"
    STREAM = SUPERVISION_ALERTS
    matter_code: str
    department_code: str
    kind: str
    max_days: int
    day_kind: str
    started_at: datetime
    due_at: datetime
    raised_at: datetime
    actor: Actor = SYSTEM


@dataclass(frozen=True)
class TaskReturned(ApprovalEvent):
    TYPE = _V1 + "TaskReturned"
    department_code: str
    reason: str
    clock: Clock
    actor: Actor
    previous_outcome: Outcome = Outcome.APPROVED


@dataclass(frozen=True)
class DepartmentAdded(ApprovalEvent):
    TYPE = _V1 + "DepartmentAdded"
    department_code: str
    task_name: str
    reason: str
    clock: Clock
    actor: Actor


@dataclass(frozen=True)
class DepartmentRemoved(ApprovalEvent):
    TYPE = _V1 + "DepartmentRemoved"
    department_code: str
    reason: str
    actor: Actor


@dataclass(frozen=True)
class ExtensionRequested(ApprovalEvent):
    TYPE = _V1 + "ExtensionRequested"
    department_code: str
    days: int
    reason: str
    actor: Actor


@dataclass(frozen=True)
class ExtensionDecided(ApprovalEvent):
    TYPE = _V1 + "ExtensionDecided"
    department_code: str
    approved: bool
    days: int
    reason: str
    note: str
    clock: Clock
    actor: Actor
    extended_days_total: int
    contact: ContactInput | None = None  # set when approved: the applicant is told


EVENT_TYPES: dict[str, type[ApprovalEvent]] = {
    cls.TYPE: cls
    for cls in (
        ApplicationAccepted,
        TaskStarted,
        TaskDecided,
        TaskCancelled,
        TaskAssigned,
        SpecialProcedureStarted,
        SpecialProcedureEnded,
        ApplicationCompleted,
        ApplicationRejected,
        ApplicationWithdrawn,
        SupervisionAlert,
        SpecialProcedureOverrun,
        TaskReturned,
        ClocksResumed,
        DepartmentAdded,
        DepartmentRemoved,
        ExtensionRequested,
        ExtensionDecided,
    )
}
