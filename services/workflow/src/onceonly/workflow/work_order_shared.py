"""Inputs and outputs of the HotlineWorkOrder workflow, its Updates and activities:
dataclasses only (evolve them by adding fields with defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

WORK_ORDER_WORKFLOW = "HotlineWorkOrder"


@dataclass
class WorkOrderInput:
    order_code: str
    kind: str  # WorkOrderKind
    department_code: str
    region_code: str
    filed_at: str  # ISO 8601, UTC
    attached_application_code: str = ""
    integrator_id: str = ""
    hotline_reference: str = ""
    caller_mobile_sealed: str = ""
    caller_mobile_masked: str = ""
    language: str = "zh"

    @property
    def subject(self) -> str:
        """The Kafka key and timeline of its events: the application, else the order."""
        return self.attached_application_code or self.order_code


@dataclass
class WorkOrderClocks:
    round: int
    sign_hours: int
    reply_days: int
    sign_due_at: datetime
    sign_yellow_at: datetime
    reply_due_at: datetime
    reply_yellow_at: datetime


@dataclass
class ClocksRequest:
    kind: str
    region_code: str
    started_at: datetime
    round: int


@dataclass
class WorkOrderActor:
    staff_id: str = ""
    staff_department: str = ""
    staff_roles: list[str] = field(default_factory=list)


@dataclass
class SignInput(WorkOrderActor):
    pass


@dataclass
class ReplyInput(WorkOrderActor):
    reply: str = ""


@dataclass
class CallbackInput(WorkOrderActor):
    satisfied: bool = False
    comment: str = ""


@dataclass
class WorkOrderView:
    """An order as its workflow answers (a query) and as the department list shows it."""

    order_code: str
    kind: str
    department_code: str
    attached_application_code: str
    status: str
    round: int
    level: str
    filed_at: str
    sign_due_at: datetime | None = None
    reply_due_at: datetime | None = None
    signed_at: datetime | None = None
    answered_at: datetime | None = None
    reply: str = ""
    satisfied: bool | None = None
    caller_mobile_masked: str = ""
    hotline_reference: str = ""
    version: int = 0


@dataclass
class WorkOrderEvent:
    """One event of an order, as the workflow hands it to the publishing activity (which
    maps it to its protobuf message, work_order_messages)."""

    event_id: str
    type: str  # "opened", "signed", "answered", "called_back", "reopened", "closed", "alert"
    order_code: str
    application_code: str  # the subject
    department_code: str
    at: datetime
    round: int = 1
    actor_kind: str = "system"
    actor_id: str = "workflow"
    clocks: WorkOrderClocks | None = None
    late: bool = False
    reply: str = ""
    satisfied: bool = False
    comment: str = ""
    clock: str = ""
    level: str = ""
    due_at: datetime | None = None
    seconds_left: int = 0
    caller_mobile_sealed: str = ""
    caller_mobile_masked: str = ""
    language: str = "zh"


@dataclass
class WorkOrderPublish:
    event: WorkOrderEvent
    view: WorkOrderView  # the order as of the event, for the department's list
