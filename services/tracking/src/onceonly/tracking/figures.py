"""Supervision figures (电子监察): the definitions, and a pure reference computation.

The service computes the figures in Postgres (`FiguresStore`); `reference_figures`
computes the same figures from a list of recorded events so tests can check the SQL
against an implementation that is easy to read. Definitions, for a period [from, to):

- A unit is an application (grouped by matter) or one department's task of it (grouped
  by department).
- received: units started in the period (application: its first ApplicationSubmitted;
  task: its first TaskStarted).
- completed: units finished in the period (application: its first ApplicationCompleted
  or ApplicationRejected, 办结 including 不予许可; task: its first approving or rejecting
  TaskDecided).
- actual days: whole days the unit's clock ran, in its own kind of days (working or
  natural, from the clock's `day_kind`), from its start date to its finish date less
  the days of its pauses (supplements, special procedures), as the workflow moves its
  deadlines (`onceonly.tracking.clock_days`). The clock of an application starts at its
  latest acceptance that carries a clock and stands still while any of its tasks' does;
  a task's starts at its first TaskStarted and stands still during its own pauses.
- committed days: application, from its latest ApplicationAccepted clock; task, from its
  first TaskStarted clock. on_time/overdue: completed units whose actual days are within
  / beyond the committed days (units missing either are in neither).
- extended days: a task's approved extensions (延期, ExtensionDecided approved, their
  days summed); an application's, the most any of its tasks had (they run in parallel,
  and the application's clock moves with the task that ends last). on_time_extended /
  overdue_extended: as on_time / overdue, against committed plus extended days (the limit
  supervision measures once an extension is approved). extended: completed units that
  had an approved extension; extension_rate: their share of the completed ones.
- legal overruns: units whose clock passed its legal limit (法定时限) in the period (the
  first legal-level SupervisionAlert on the unit's own clock, by its event time); open
  legal: like open yellow / red, units whose level is `legal` now.
- open yellow / red: the level NOW (after every recorded event) of units not finished,
  whatever the period: an alert is open until the decision.
- at most once (最多跑一次): completed units with no supplement request (application:
  at intake or by any department; task: by that department).
- ratings: RatingGiven events in the period, per level 1..5; a department counts the
  ratings of the applications it had a task in.
- rectifications (差评整改): those opened (RectificationOpened) in the period, grouped by
  their department or matter; rectified: of those, the ones answered (RectificationAnswered)
  by now; rectified on time: answered and not late (within the limit's last working day);
  rectification rate: rectified / rectifications; rectification on-time rate: rectified on
  time / rectified; open rectifications: unanswered NOW, whatever the period.
- supervision cases (督办件): cases opened (SupervisionCaseOpened) in the period; cases
  closed (SupervisionCaseClosed, the department's response) in the period, and of those
  the late ones (after the response deadline of the level they had reached); open cases:
  not closed NOW, whatever the period, and of those the escalated ones (past level 1, at
  the supervision office by default).
- 12345 work orders (工单): filed (WorkOrderFiled) in the period, grouped by the department
  they were filed to, the matter of the application they concern ('' for none), or the
  division that decides that application (for none: the division they were filed in);
  closed in the period; answers (WorkOrderAnswered, every round) in the period and of
  those the late ones; sign-fors (WorkOrderSigned) in the period that were late;
  reopenings in the period; callbacks (回访) in the period and of those the satisfied ones
  (satisfaction rate: satisfied / callbacks); open work orders: not closed NOW.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf.message import Message

from onceonly.approval import ApprovalStatus, SupervisionLevel, TaskView
from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2, workorder_pb2
from onceonly.platform.auth import region_prefix
from onceonly.tracking.clock_days import Interval, actual_days
from onceonly.tracking.status import apply_event

GroupBy = Literal["department", "matter", "division"]
DECIMALS = 3
_DECIDING = (approval_pb2.DECISION_OUTCOME_APPROVED, approval_pb2.DECISION_OUTCOME_REJECTED)
_LEGAL = supervision_pb2.SUPERVISION_LEVEL_LEGAL
_SUPPLEMENT = (
    approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
    approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One timeline entry as the reference computation needs it (recorded order)."""

    application_code: str
    message: Message
    time: datetime


@dataclass(slots=True)
class GroupFigures:
    group: str
    received: int = 0
    completed: int = 0
    on_time: int = 0
    overdue: int = 0
    open_yellow: int = 0
    open_red: int = 0
    average_days: float | None = None
    p90_days: float | None = None
    average_committed_days: float | None = None
    at_most_once: int = 0
    ratings: dict[int, int] = field(default_factory=dict)
    on_time_extended: int = 0
    overdue_extended: int = 0
    extended: int = 0
    open_legal: int = 0
    legal_overruns: int = 0
    rectifications: int = 0
    rectified: int = 0
    rectified_on_time: int = 0
    open_rectifications: int = 0
    cases_opened: int = 0
    cases_closed: int = 0
    cases_closed_late: int = 0
    open_cases: int = 0
    open_cases_escalated: int = 0
    work_orders: int = 0
    work_orders_closed: int = 0
    work_orders_answered: int = 0
    work_orders_answered_late: int = 0
    work_orders_signed_late: int = 0
    work_orders_reopened: int = 0
    callbacks: int = 0
    callbacks_satisfied: int = 0
    open_work_orders: int = 0

    @property
    def satisfaction_rate(self) -> float | None:
        return (
            round(self.callbacks_satisfied / self.callbacks, DECIMALS) if self.callbacks else None
        )

    @property
    def rectification_rate(self) -> float | None:
        if not self.rectifications:
            return None
        return round(self.rectified / self.rectifications, DECIMALS)

    @property
    def rectification_on_time_rate(self) -> float | None:
        return round(self.rectified_on_time / self.rectified, DECIMALS) if self.rectified else None

    @property
    def on_time_rate(self) -> float | None:
        judged = self.on_time + self.overdue
        return round(self.on_time / judged, DECIMALS) if judged else None

    @property
    def on_time_rate_extended(self) -> float | None:
        judged = self.on_time_extended + self.overdue_extended
        return round(self.on_time_extended / judged, DECIMALS) if judged else None

    @property
    def extension_rate(self) -> float | None:
        return round(self.extended / self.completed, DECIMALS) if self.completed else None

    @property
    def at_most_once_rate(self) -> float | None:
        return round(self.at_most_once / self.completed, DECIMALS) if self.completed else None

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "received": self.received,
            "completed": self.completed,
            "on_time": self.on_time,
            "overdue": self.overdue,
            "on_time_rate": self.on_time_rate,
            "open_yellow": self.open_yellow,
            "open_red": self.open_red,
            "average_days": self.average_days,
            "p90_days": self.p90_days,
            "average_committed_days": self.average_committed_days,
            "at_most_once": self.at_most_once,
            "at_most_once_rate": self.at_most_once_rate,
            "ratings": {str(level): n for level, n in sorted(self.ratings.items())},
            "on_time_extended": self.on_time_extended,
            "overdue_extended": self.overdue_extended,
            "on_time_rate_extended": self.on_time_rate_extended,
            "extended": self.extended,
            "extension_rate": self.extension_rate,
            "open_legal": self.open_legal,
            "legal_overruns": self.legal_overruns,
            "rectifications": self.rectifications,
            "rectified": self.rectified,
            "rectified_on_time": self.rectified_on_time,
            "rectification_rate": self.rectification_rate,
            "rectification_on_time_rate": self.rectification_on_time_rate,
            "open_rectifications": self.open_rectifications,
            "cases_opened": self.cases_opened,
            "cases_closed": self.cases_closed,
            "cases_closed_late": self.cases_closed_late,
            "open_cases": self.open_cases,
            "open_cases_escalated": self.open_cases_escalated,
            "work_orders": self.work_orders,
            "work_orders_closed": self.work_orders_closed,
            "work_orders_answered": self.work_orders_answered,
            "work_orders_answered_late": self.work_orders_answered_late,
            "work_orders_signed_late": self.work_orders_signed_late,
            "work_orders_reopened": self.work_orders_reopened,
            "callbacks": self.callbacks,
            "callbacks_satisfied": self.callbacks_satisfied,
            "satisfaction_rate": self.satisfaction_rate,
            "open_work_orders": self.open_work_orders,
        }


@dataclass(slots=True)
class Unit:
    """An application or a department's task, as the figures count it."""

    group: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    committed_days: int | None = None
    supplemented: bool = False
    level: str = SupervisionLevel.NONE.value
    # The clock: when it started (None: the unit's start), its kind of days, its pauses.
    clock_started_at: datetime | None = None
    day_kind: str = "working"
    pauses: list[Interval] = field(default_factory=list)
    extended_days: int = 0  # approved extensions (延期)
    legal_overrun_at: datetime | None = None  # when its clock first passed the legal limit


def rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """Postgres's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def aggregate(
    units: Iterable[Unit], *, start: datetime, end: datetime, calendar: WorkingCalendar
) -> dict[str, GroupFigures]:
    """The figures of the units' groups over [start, end), ratings aside; both the
    reference and the Postgres store count with this."""
    result: dict[str, GroupFigures] = {}
    days_of: dict[str, list[float]] = defaultdict(list)
    committed_of: dict[str, list[int]] = defaultdict(list)
    for unit in units:
        figures = result.setdefault(unit.group, GroupFigures(group=unit.group))
        if unit.started_at is not None and start <= unit.started_at < end:
            figures.received += 1
        figures.open_yellow += unit.level == SupervisionLevel.YELLOW
        figures.open_red += unit.level == SupervisionLevel.RED
        figures.open_legal += unit.level == SupervisionLevel.LEGAL
        overrun = unit.legal_overrun_at
        figures.legal_overruns += overrun is not None and start <= overrun < end
        if unit.finished_at is None or not start <= unit.finished_at < end:
            continue
        figures.completed += 1
        figures.at_most_once += not unit.supplemented
        figures.extended += unit.extended_days > 0
        if unit.committed_days is not None:
            committed_of[unit.group].append(unit.committed_days)
        clock_start = unit.clock_started_at or unit.started_at
        if clock_start is None:
            continue
        days = actual_days(
            clock_start, unit.finished_at, unit.pauses, day_kind=unit.day_kind, calendar=calendar
        )
        days_of[unit.group].append(days)
        if unit.committed_days is not None:
            if days <= unit.committed_days:
                figures.on_time += 1
            else:
                figures.overdue += 1
            if days <= unit.committed_days + unit.extended_days:
                figures.on_time_extended += 1
            else:
                figures.overdue_extended += 1
    for group, figures in result.items():
        days = days_of[group]
        figures.average_days = rounded(sum(days) / len(days)) if days else None
        figures.p90_days = rounded(percentile_cont(days, 0.9))
        committed = committed_of[group]
        figures.average_committed_days = (
            rounded(sum(committed) / len(committed)) if committed else None
        )
    return result


def has_figures(figures: GroupFigures) -> bool:
    return bool(
        figures.received
        or figures.completed
        or figures.open_yellow
        or figures.open_red
        or figures.open_legal
        or figures.legal_overruns
        or figures.ratings
        or figures.rectifications
        or figures.open_rectifications
        or figures.cases_opened
        or figures.cases_closed
        or figures.open_cases
        or any(getattr(figures, name) for name in WORK_ORDER_FIGURES)
    )


# What a work order adds to its group's figures (the SQL's column names too).
WORK_ORDER_FIGURES = (
    "work_orders",
    "work_orders_closed",
    "work_orders_answered",
    "work_orders_answered_late",
    "work_orders_signed_late",
    "work_orders_reopened",
    "callbacks",
    "callbacks_satisfied",
    "open_work_orders",
)


def digits_below(scope: str | None) -> int | None:
    """How many leading digits of a division code name the division one level below
    `scope` (None: the province), padded with zeros to six: a province's cities by four,
    a city's counties by six; a county's townships by the whole code (None)."""
    prefix = len(region_prefix(scope)) if scope else 2
    return {2: 4, 4: 6}.get(prefix)


def division_below(decided_in: str, scope: str | None) -> str:
    """行政区划: the division one level below `scope` (None: the province) that an
    application decided in `decided_in` counts under: a province's cities, a city's
    counties, a county's townships. One decided at the scope's own level (a matter of
    the city's) counts under the scope itself."""
    kept = digits_below(scope)
    return decided_in if kept is None else decided_in[:kept].ljust(6, "0")


def within_scope(decided_in: str, scope: str | None) -> bool:
    return scope is None or decided_in.startswith(region_prefix(scope))


@dataclass(slots=True)
class Case:
    """A rectification or a supervision case, as the figures count it."""

    group: str = ""
    application_code: str = ""
    opened_at: datetime | None = None
    done_at: datetime | None = None  # answered (a rectification), closed (a case)
    late: bool = False
    level: int = 1  # a supervision case's highest level


@dataclass(slots=True)
class WorkOrder:
    """A 12345 work order, as the figures count it (event times, as recorded)."""

    application_code: str  # its timeline: the application it concerns, else its own code
    department_code: str = ""
    region_code: str = ""  # where it was filed
    filed_at: datetime | None = None
    closed_at: datetime | None = None
    answered: list[tuple[datetime, bool]] = field(default_factory=list)  # (time, late)
    signed_late: list[datetime] = field(default_factory=list)
    reopened: list[datetime] = field(default_factory=list)
    called_back: list[tuple[datetime, bool]] = field(default_factory=list)  # satisfied
    group: str = ""


_WORK_ORDER_EVENTS = (
    workorder_pb2.WorkOrderFiled,
    workorder_pb2.WorkOrderSigned,
    workorder_pb2.WorkOrderAnswered,
    workorder_pb2.WorkOrderCalledBack,
    workorder_pb2.WorkOrderReopened,
    workorder_pb2.WorkOrderClosed,
)


def _follow_work_order(
    orders: dict[str, WorkOrder], code: str, message: Message, time: datetime
) -> None:
    order = orders.setdefault(message.order_code, WorkOrder(application_code=code))  # type: ignore[attr-defined]
    match message:
        case workorder_pb2.WorkOrderFiled() if order.filed_at is None:
            order.filed_at = time
            order.department_code = message.department_code
            order.region_code = message.region_code
        case workorder_pb2.WorkOrderClosed():
            order.closed_at = _first(order.closed_at, time)
        case workorder_pb2.WorkOrderAnswered():
            order.answered.append((time, message.late))
        case workorder_pb2.WorkOrderSigned() if message.late:
            order.signed_late.append(time)
        case workorder_pb2.WorkOrderReopened():
            order.reopened.append(time)
        case workorder_pb2.WorkOrderCalledBack():
            order.called_back.append((time, message.satisfied))


def _count_work_orders(
    result: dict[str, GroupFigures], orders: Iterable[WorkOrder], *, start: datetime, end: datetime
) -> None:
    """Add the work orders' figures to `result` (the pure reference of the store's SQL)."""

    def within(time: datetime) -> bool:
        return start <= time < end

    for order in orders:
        if order.filed_at is None:
            continue
        figures = result.setdefault(order.group, GroupFigures(group=order.group))
        figures.work_orders += within(order.filed_at)
        figures.work_orders_closed += order.closed_at is not None and within(order.closed_at)
        figures.open_work_orders += order.closed_at is None
        figures.work_orders_answered += sum(within(at) for at, _ in order.answered)
        figures.work_orders_answered_late += sum(within(at) and late for at, late in order.answered)
        figures.work_orders_signed_late += sum(within(at) for at in order.signed_late)
        figures.work_orders_reopened += sum(within(at) for at in order.reopened)
        figures.callbacks += sum(within(at) for at, _ in order.called_back)
        figures.callbacks_satisfied += sum(within(at) and ok for at, ok in order.called_back)


def _case_of(cases: dict[str, Case], message: Message) -> Case:
    return cases.setdefault(message.case_code, Case())  # type: ignore[attr-defined]


def _count_cases(
    result: dict[str, GroupFigures],
    rectifications: Iterable[Case],
    cases: Iterable[Case],
    *,
    start: datetime,
    end: datetime,
) -> None:
    """Add the rectifications' and supervision cases' figures to `result` (the pure
    reference; the store counts the same in SQL)."""
    for case in rectifications:
        if case.opened_at is None:
            continue
        figures = result.setdefault(case.group, GroupFigures(group=case.group))
        if start <= case.opened_at < end:
            figures.rectifications += 1
            if case.done_at is not None:
                figures.rectified += 1
                figures.rectified_on_time += not case.late
        figures.open_rectifications += case.done_at is None
    for case in cases:
        if case.opened_at is None:
            continue
        figures = result.setdefault(case.group, GroupFigures(group=case.group))
        figures.cases_opened += start <= case.opened_at < end
        if case.done_at is not None and start <= case.done_at < end:
            figures.cases_closed += 1
            figures.cases_closed_late += case.late
        if case.done_at is None:
            figures.open_cases += 1
            figures.open_cases_escalated += case.level > 1


def reference_figures(
    recorded: Iterable[Recorded],
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    calendar: WorkingCalendar,
    scope: str | None = None,
) -> dict[str, GroupFigures]:
    """The figures of every group with anything to show, by group key; by division, of
    the applications decided within `scope` (None: the province), by the division below
    it that decides each."""
    statuses: dict[str, ApprovalStatus] = {}
    decided_in: dict[str, str] = {}
    apps: dict[str, Unit] = {}
    tasks: dict[tuple[str, str], Unit] = {}
    ratings: list[tuple[str, datetime, int]] = []
    extensions: dict[tuple[str, str], int] = defaultdict(int)
    legal_at: dict[tuple[str, str], datetime] = {}
    rectifications: dict[str, Case] = {}
    cases: dict[str, Case] = {}
    orders: dict[str, WorkOrder] = {}
    for entry in recorded:
        code, message, time = entry.application_code, entry.message, _aware(entry.time)
        statuses[code] = apply_event(
            statuses.get(code), application_code=code, message=message, time=time
        )
        app = apps.setdefault(code, Unit(group=""))
        if isinstance(message, _WORK_ORDER_EVENTS):
            _follow_work_order(orders, code, message, time)
        match message:
            case application_pb2.ApplicationSubmitted():
                app.started_at = _first(app.started_at, time)
                if message.competent_region:
                    decided_in[code] = message.competent_region
            case approval_pb2.ApplicationAccepted():
                if message.HasField("clock") and message.clock.committed_days:
                    app.committed_days = message.clock.committed_days
                    app.clock_started_at = time
                    app.day_kind = message.clock.day_kind or app.day_kind
            case approval_pb2.ApplicationCompleted() | approval_pb2.ApplicationRejected():
                app.finished_at = _first(app.finished_at, time)
            case application_pb2.RatingGiven():
                ratings.append((code, time, message.level))
            case approval_pb2.ExtensionDecided() if message.approved:
                extensions[code, message.department_code] += message.days
            case supervision_pb2.SupervisionAlert() if (
                message.level == _LEGAL and message.escalation == 0
            ):
                key = (code, message.department_code)
                legal_at[key] = _first(legal_at.get(key), time)
            case supervision_pb2.RectificationOpened() | supervision_pb2.SupervisionCaseOpened():
                kind = (
                    rectifications
                    if isinstance(message, supervision_pb2.RectificationOpened)
                    else cases
                )
                opened = _case_of(kind, message)
                if opened.opened_at is None:
                    opened.group = (
                        message.department_code if group_by == "department" else message.matter_code
                    )
                    opened.application_code = code
                opened.opened_at = _first(opened.opened_at, time)
            case supervision_pb2.RectificationAnswered():
                answered = _case_of(rectifications, message)
                answered.done_at = _first(answered.done_at, time)
                answered.late = answered.late or message.late
            case supervision_pb2.SupervisionCaseEscalated():
                escalated = _case_of(cases, message)
                escalated.level = max(escalated.level, message.level)
            case supervision_pb2.SupervisionCaseClosed():
                closed = _case_of(cases, message)
                closed.done_at = _first(closed.done_at, time)
                closed.late = closed.late or message.late
                closed.level = max(closed.level, message.level)
        if getattr(message, "outcome", None) in _SUPPLEMENT and isinstance(
            message, approval_pb2.ApplicationAccepted | approval_pb2.TaskDecided
        ):
            app.supplemented = True
        if (
            isinstance(message, approval_pb2.TaskStarted | approval_pb2.TaskDecided)
            and message.department_code
        ):
            task = tasks.setdefault((code, message.department_code), Unit(group=""))
            if isinstance(message, approval_pb2.TaskStarted):
                if task.committed_days is None and message.clock.committed_days:
                    task.committed_days = message.clock.committed_days
                    task.day_kind = message.clock.day_kind or task.day_kind
                task.started_at = _first(task.started_at, time)
            elif message.outcome in _DECIDING:
                task.finished_at = _first(task.finished_at, time)
            elif message.outcome == approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED:
                task.supplemented = True

    for code, app in apps.items():
        app.group = statuses[code].matter_code
        app.level = statuses[code].supervision_level
        app.pauses = [pause for view in statuses[code].tasks.values() for pause in _pauses(view)]
        app.extended_days = max(
            (days for (of, department), days in extensions.items() if of == code and department),
            default=0,
        )
        app.legal_overrun_at = legal_at.get((code, ""))
    for (code, department), task in tasks.items():
        task.group = department
        task.extended_days = extensions.get((code, department), 0)
        task.legal_overrun_at = legal_at.get((code, department))
        status = statuses[code]
        view = status.tasks.get(department)
        if view is not None:
            task.level = SupervisionLevel.NONE if status.finished else view.open_level
            task.pauses = _pauses(view)

    for order in orders.values():
        # A work order counts where the application it concerns is decided (for none:
        # where it was filed).
        where = decided_in.get(order.application_code) or order.region_code
        where = where or order.application_code[:6]
        if group_by == "department":
            order.group = order.department_code
        elif group_by == "matter":
            status = statuses.get(order.application_code)
            order.group = (status.matter_code if status is not None else "") or ""
        else:
            order.group = division_below(where, scope)
        if not within_scope(where, scope):
            order.filed_at = None  # outside the scope: not counted
    if group_by == "division":

        def region_of(code: str) -> str:
            # Before jurisdictions, an application's code began with its division.
            return decided_in.get(code, code[:6])

        apps = {code: app for code, app in apps.items() if within_scope(region_of(code), scope)}
        for code, app in apps.items():
            app.group = division_below(region_of(code), scope)
        for kind in (rectifications, cases):
            for case_code, case in list(kind.items()):
                where = region_of(case.application_code)
                if within_scope(where, scope):
                    case.group = division_below(where, scope)
                else:
                    del kind[case_code]
    units = list(tasks.values()) if group_by == "department" else list(apps.values())
    result = aggregate(units, start=start, end=end, calendar=calendar)

    groups_of: dict[str, set[str]] = defaultdict(set)
    for code, app in apps.items():
        if group_by != "department":
            groups_of[code].add(app.group)
    for code, department in tasks if group_by == "department" else ():
        groups_of[code].add(department)
    counted: dict[str, Counter[int]] = defaultdict(Counter)
    for code, time, level in ratings:
        if start <= time < end:
            for group in groups_of[code]:
                counted[group][level] += 1
    for group, counter in counted.items():
        result.setdefault(group, GroupFigures(group=group)).ratings = dict(counter)
    _count_cases(result, rectifications.values(), cases.values(), start=start, end=end)
    _count_work_orders(result, orders.values(), start=start, end=end)
    return {group: figures for group, figures in result.items() if has_figures(figures)}


def _pauses(task: TaskView) -> list[Interval]:
    """The closed pauses of a task (supplements, special procedures)."""
    return [(interval.since, interval.until) for interval in task.paused_intervals]


def _first(current: datetime | None, time: datetime) -> datetime:
    return time if current is None else min(current, time)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
