"""The tracking API's response bodies."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TimelineEntryView(BaseModel):
    seq: int
    event_id: str
    type: str
    source: str
    time: datetime
    summary: dict[str, Any]
    hash: str
    prev_hash: str
    recorded_at: datetime


class TimelineView(BaseModel):
    application_code: str
    entries: list[TimelineEntryView]


class VerificationView(BaseModel):
    application_code: str
    # The chain holds link by link and is not contradicted by the latest checkpoint.
    intact: bool
    entries: int
    first_broken_seq: int | None
    reason: str | None
    # Entries 1..anchored_seq are as the latest signed checkpoint has them (`anchor`:
    # anchored, contradicted, not_covered, unverifiable; `anchor_reason` says why).
    anchored: bool = False
    anchor: str | None = None
    anchor_reason: str | None = None
    checkpoint_number: int | None = None
    anchored_seq: int | None = None


class StatusView(BaseModel):
    application_code: str
    matter_code: str | None
    status: str
    tasks: dict[str, dict[str, Any]]
    last_event_at: str | None
    supervision_level: str
    paused: bool
    due_at: str | None
    supervision: dict[str, Any]
    rating: int | None = None


class GroupFiguresView(BaseModel):
    group: str
    received: int
    completed: int
    on_time: int
    overdue: int
    on_time_rate: float | None
    open_yellow: int
    open_red: int
    # Days each completed unit's clock ran, in its own kind of days (working or natural),
    # pauses left out (onceonly.tracking.figures).
    average_days: float | None
    p90_days: float | None
    average_committed_days: float | None
    at_most_once: int
    at_most_once_rate: float | None
    ratings: dict[str, int]
    # Against the committed limit plus approved extensions (延期), and how many completed
    # units needed one (their share of the completed).
    on_time_extended: int
    overdue_extended: int
    on_time_rate_extended: float | None
    extended: int
    extension_rate: float | None
    # Open at the legal level now; clocks that passed the legal limit (法定时限) in the period.
    open_legal: int
    legal_overruns: int
    rectifications: int = Field(description="Rectifications of bad ratings opened in the period")
    rectified: int = Field(description="Of those, answered (by now)")
    rectified_on_time: int
    rectification_rate: float | None
    rectification_on_time_rate: float | None
    open_rectifications: int = Field(description="Unanswered now, whatever the period")
    cases_opened: int = Field(description="Supervision cases (督办件) opened in the period")
    cases_closed: int
    cases_closed_late: int
    open_cases: int = Field(description="Supervision cases open now, whatever the period")
    open_cases_escalated: int = Field(description="Of those, past the first level")
    work_orders: int = Field(0, description="12345 work orders (工单) filed in the period")
    work_orders_closed: int = 0
    work_orders_answered: int = Field(0, description="Answers in the period (every round)")
    work_orders_answered_late: int = 0
    work_orders_signed_late: int = Field(0, description="Sign-fors in the period, late")
    work_orders_reopened: int = 0
    callbacks: int = Field(0, description="Callbacks (回访) to the caller in the period")
    callbacks_satisfied: int = 0
    satisfaction_rate: float | None = None
    open_work_orders: int = Field(0, description="Not closed now, whatever the period")


class FiguresView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    group_by: str
    groups: list[GroupFiguresView]


class AlertView(BaseModel):
    application_code: str
    matter_code: str
    department_code: str
    level: str
    escalation: int | None
    seconds_left: int | None
    seconds_left_at_alert: int | None
    due_at: datetime | None
    raised_at: datetime | None


class AlertsView(BaseModel):
    as_of: datetime
    red: list[AlertView]
    yellow: list[AlertView]
    legal: list[AlertView] = []  # past the legal limit too (超法定时限)
    # The next page's cursor (`cursor=`); None: this page is the last.
    next_cursor: str | None = None


class OpenCaseView(BaseModel):
    """A supervision case (督办件) not yet answered by its department."""

    case_code: str
    application_code: str
    matter_code: str
    department_code: str = Field(description="Who must respond")
    clock_department_code: str = Field(description="The late clock; empty: the application's")
    level: int
    addressee: str = Field(description="department_head, supervision_office")
    opened_at: datetime | None
    response_due_at: datetime | None
    seconds_left: int | None = Field(description="To the response deadline, as of now")


class OpenRectificationView(BaseModel):
    """A rectification of a bad rating (差评整改) whose written answer is still due."""

    case_code: str
    application_code: str
    matter_code: str
    department_code: str
    rating_level: int
    level: str = Field(description="Of its clock: none, yellow, red")
    opened_at: datetime | None
    due_at: datetime | None
    seconds_left: int | None


class OpenWorkOrderView(BaseModel):
    """A 12345 work order not closed, with the clock that runs for its department."""

    order_code: str
    application_code: str = Field(description="The application it concerns; empty if none")
    department_code: str
    kind: str = Field(description="complaint, consultation or request")
    round: int
    stage: str = Field(description="sign (to sign for), reply, or callback (the caller's)")
    level: str = Field(description="Of the clock that runs: none, yellow, red")
    due_at: datetime | None
    seconds_left: int | None


class OpenCasesView(BaseModel):
    as_of: datetime
    supervision_cases: list[OpenCaseView]
    rectifications: list[OpenRectificationView]
    work_orders: list[OpenWorkOrderView] = []


class NamedView(BaseModel):
    code: str
    name_zh: str
    name_en: str


class FoundTaskView(NamedView):
    state: str
    supervision_level: str


class FoundApplicationView(BaseModel):
    """One application as the operations search finds it: names besides codes, no
    personal data."""

    application_code: str
    # The division whose bodies decide it (GB/T 2260, or a township's nine digits);
    # recorded before jurisdictions: the code's first six digits, the centre's.
    region_code: str | None
    # Its name (杭州市西湖区), where the province's jurisdictions list it.
    region: NamedView | None = None
    # Where it was submitted (全省通办), when recorded.
    submitted_region: str | None = None
    matter: NamedView | None
    status: str
    supervision_level: str
    paused: bool
    due_at: datetime | None
    submitted_at: datetime
    last_event_at: datetime | None
    rating: int | None
    departments: list[FoundTaskView]


class SearchView(BaseModel):
    items: list[FoundApplicationView]
    limit: int
    # Pass as `cursor` for the next page; null on the last.
    next_cursor: str | None


class CatalogueNamesView(BaseModel):
    matters: dict[str, NamedView]
    departments: dict[str, NamedView]
    # The divisions within the caller's, by code, with their full names (杭州市西湖区).
    divisions: dict[str, NamedView] = {}
