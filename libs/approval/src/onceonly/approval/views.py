"""Typed views of where an application and its department tasks stand (what the fold
in `onceonly.approval.fold` produces). Pure.

Every instant is an aware datetime in UTC. A field that is None has not been told by
any event yet: services that show only what they were told (tracking leaves such keys
out of its JSON) can tell "not known" from a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from onceonly.approval.states import (
    FINISHED,
    ApplicationState,
    StepKind,
    SupervisionLevel,
    TaskState,
)

# How many steps a status keeps (the latest): enough for "the last few steps".
RECENT_STEPS = 12


@dataclass(frozen=True, slots=True)
class Clock:
    """A clock as one event carried it (the protobuf `Clock`)."""

    committed_days: int = 0
    # `working` or `natural`, as the event said it (empty when it said nothing).
    day_kind: str = ""
    started_at: datetime | None = None
    due_at: datetime | None = None  # None: no deadline yet (waiting for a supplement)
    paused: bool = False
    provisional: bool = False  # computed past the published holiday calendar


@dataclass(frozen=True, slots=True)
class Alert:
    """An e-supervision alert (SupervisionAlert) on a clock."""

    level: SupervisionLevel
    escalation: int  # 0 for the warning, the first red or legal alert; 1, 2, ... reminders
    seconds_left: int  # to the committed deadline; negative once overdue
    raised_at: datetime
    due_at: datetime | None = None
    legal_due_at: datetime | None = None  # the legal deadline (法定时限), when supervised


@dataclass(frozen=True, slots=True)
class PausedInterval:
    """A closed time a task's clock stood still; its time does not count."""

    since: datetime
    until: datetime
    reason: str  # a PauseReason, `special_procedure:<kind>` for a special procedure


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the application, as its applicant may be told of it: no free text
    (reasons, notes) and no staff, only what happened, to which department, when."""

    kind: StepKind
    at: datetime
    department_code: str = ""
    detail: str = ""  # the special procedure's kind, for its steps


@dataclass(frozen=True, slots=True)
class TaskView:
    """One department's task (审批环节) of an application."""

    department_code: str
    # None: the task is known only from an assignment, an alert or a special procedure
    # so far (it is open); `state_or_started` reads it so.
    state: TaskState | None = None
    task_name: str = ""
    # When the task first started (from its first TaskStarted's event time); a task
    # resumed after a supplement keeps it.
    started_at: datetime | None = None
    # The clock as the last approval event that carried one said it.
    clock: Clock | None = None
    # The clock's figures as the events told them, each kept until an event tells
    # another: committed days and day kind from clocks with a limit, the deadline from
    # clocks and alerts that have one, `paused` whether the clock stands still now.
    committed_days: int | None = None
    day_kind: str = ""
    due_at: datetime | None = None
    # Whether that deadline is an estimate (past the published holiday calendar), as the
    # last clock with a deadline said; None: no clock has told.
    provisional: bool | None = None
    paused: bool | None = None
    # Since when a supplement request holds the clock; when it last resumed after one.
    paused_since: datetime | None = None
    resumed_at: datetime | None = None
    paused_intervals: tuple[PausedInterval, ...] = ()
    paused_seconds: int = 0
    # The department's open supplement request (一次性告知): what it asked for and by
    # when; cleared when the task runs again.
    supplement_materials: tuple[str, ...] = ()
    supplement_due_at: datetime | None = None
    special_procedure: str | None = None  # the kind of the running special procedure
    special_since: datetime | None = None
    # When the latest special procedure ran past its maximum length (SpecialProcedureOverrun).
    special_overrun_at: datetime | None = None
    assignee: str = ""  # the reviewer (empty: none named)
    # The decision or cancellation and why (reset when the task resumes).
    reason: str = ""
    decided_at: datetime | None = None
    # The task's alert level while it is open (a decision ends it: NONE); None when
    # neither an alert nor a decision has been seen.
    supervision_level: SupervisionLevel | None = None
    alert: Alert | None = None  # the latest alert that counted
    legal_due_at: datetime | None = None  # the legal deadline, as the latest alert told it

    @property
    def state_or_started(self) -> TaskState:
        return self.state or TaskState.STARTED

    @property
    def finished(self) -> bool:
        return self.state is not None and self.state.finished

    @property
    def open_level(self) -> SupervisionLevel:
        """The alert level of this task while it is open; NONE once finished."""
        if self.finished:
            return SupervisionLevel.NONE
        return self.supervision_level or SupervisionLevel.NONE


@dataclass(frozen=True, slots=True)
class ApprovalStatus:
    """Where an application stands: its state, its own clock and each department's task
    (by department code)."""

    application_code: str = ""
    matter_code: str = ""
    state: ApplicationState = ApplicationState.UNKNOWN
    # Why it was refused, rejected or withdrawn, or what acceptance said.
    reason: str = ""
    # Asked for at acceptance (or why it was refused), and since when.
    missing_materials: tuple[str, ...] = ()
    missing_since: datetime | None = None
    # Until when the applicant may provide what acceptance asked for (补正); None when
    # nothing is asked for at acceptance or the request told no deadline.
    supplement_due_at: datetime | None = None
    # The application's clock as the last acceptance or completion that advanced the
    # application carried it.
    clock: Clock | None = None
    # The application's deadline: from its first acceptance with one, then from alerts
    # on its own clock.
    due_at: datetime | None = None
    alert: Alert | None = None  # the latest alert on the application's own clock
    tasks: Mapping[str, TaskView] = field(default_factory=dict)
    elicence_number: str = ""
    # Set once the e-licence is revoked (ELicenceRevoked); verification answers "revoked".
    elicence_revoked_at: datetime | None = None
    elicence_revocation_reason: str = ""
    rating: int | None = None  # the applicant's latest rating (好差评), 1..5
    last_event_at: datetime | None = None
    # The latest steps (at most RECENT_STEPS), oldest first.
    steps: tuple[Step, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def supervision_level(self) -> SupervisionLevel:
        """The worst level among the application's own clock and its open tasks."""
        if self.finished:
            return SupervisionLevel.NONE
        levels = [self.alert.level if self.alert else SupervisionLevel.NONE]
        levels += [task.open_level for task in self.tasks.values()]
        return max(levels, key=lambda level: level.rank)

    @property
    def paused(self) -> bool:
        """Waiting for the applicant (a supplement requested at acceptance) or for a
        department's task whose clock stands still."""
        if self.finished:
            return False
        if self.state is ApplicationState.SUPPLEMENT_REQUESTED:
            return True
        return any(bool(task.paused) for task in self.tasks.values() if not task.finished)
