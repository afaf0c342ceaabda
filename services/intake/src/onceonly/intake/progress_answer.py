"""What the citizen progress lookup answers to "when?" (an Open311-style status, in
working days): the expected completion date and whether it is an estimate, the working
days left, the departments still deciding, what the applicant must still provide and by
when, and the last steps in plain words. Pure: derived from the approval status that
the follower keeps (`intake.approval_status`), the catalogue and the calendar; no
Temporal query per request.

Nothing here names a person: departments by their catalogue names, materials by their
catalogue names, steps in fixed words (never a reason, a note or a staff member).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from onceonly.approval import (
    ApplicationState,
    ApprovalStatus,
    Clock,
    Step,
    StepKind,
    TaskState,
    TaskView,
)
from onceonly.catalogue import Catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar

# Fewer than the fold keeps: a phone screen's worth.
LAST_STEPS = 5


@dataclass(frozen=True, slots=True)
class Name:
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Expected:
    """When the application is expected to be completed (办结)."""

    due_on: date  # China Standard Time
    # Counted past the last published holiday notice: an estimate that may still move.
    provisional: bool
    # A clock stands still (a supplement or a special procedure): the date moves later
    # by the time it stands.
    paused: bool


DecidingState = Literal["deciding", "waiting_for_applicant", "special_procedure"]


@dataclass(frozen=True, slots=True)
class Deciding:
    """A department whose part is still open."""

    department: Name
    state: DecidingState


@dataclass(frozen=True, slots=True)
class Request:
    """Materials the applicant must still provide, asked for by a department (or by the
    window at acceptance: `department` None), and by when (None: no deadline told;
    容缺 items are due before completion)."""

    department: Name | None
    materials: tuple[Name, ...]
    due_on: date | None


@dataclass(frozen=True, slots=True)
class StepText:
    at: datetime
    zh: str
    en: str


_UNKNOWN_DEPARTMENT = Name("审批部门", "a department")
_WAITING_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.SUPPLEMENT_REQUESTED})


def china_date(at: datetime) -> date:
    return at.astimezone(CHINA_STANDARD_TIME).date()


def expected_completion(status: ApprovalStatus) -> Expected | None:
    """The latest deadline among the application's clock and its open tasks' clocks.

    None when there is no date to give: before acceptance, while acceptance waits for a
    supplement (the clock has not started), once finished, or when no clock has told a
    deadline. A task waiting for the applicant has no deadline until the supplement
    arrives: the date then is the others', marked paused.
    """
    if status.finished or status.state in _WAITING_STATES:
        return None
    open_tasks = [task for task in status.tasks.values() if not task.finished]
    clocks = [status.clock, *(task.clock for task in open_tasks)]
    dated = [clock for clock in clocks if clock is not None and clock.due_at is not None]
    if not dated:
        return None
    latest = max(clock.due_at for clock in dated if clock.due_at is not None)
    at_latest: list[Clock] = [clock for clock in dated if clock.due_at == latest]
    return Expected(
        due_on=china_date(latest),
        provisional=any(clock.provisional for clock in at_latest),
        paused=any(_stands_still(task) for task in open_tasks),
    )


def _stands_still(task: TaskView) -> bool:
    """Whether the task's clock stands still, on what intake's stored row keeps (its
    state, running special procedure and last clock)."""
    return (
        task.state_or_started is TaskState.SUPPLEMENT_REQUESTED
        or bool(task.special_procedure)
        or bool(task.paused)
        or (task.clock is not None and task.clock.paused)
    )


def working_days_left(calendar: WorkingCalendar, *, today: date, due_on: date) -> int:
    """Working days after `today` up to the due day: 0 on the due day, negative (the
    working days overdue) after it. Past the published notices the calendar estimates
    with the law's holidays, so the count is as provisional as the date."""
    return calendar.remaining_working_days(today, due_on)


def deciding(status: ApprovalStatus, catalogue: Catalogue, *, matter_code: str) -> list[Deciding]:
    """The departments whose part is open, in the matter's order of departments."""
    if status.finished:
        return []
    matter = catalogue.matter(matter_code)
    order = {code: i for i, code in enumerate(matter.department_codes)} if matter else {}
    open_tasks = sorted(
        (task for task in status.tasks.values() if not task.finished),
        key=lambda task: (order.get(task.department_code, len(order)), task.department_code),
    )
    found = []
    for task in open_tasks:
        state: DecidingState
        if task.state_or_started is TaskState.SUPPLEMENT_REQUESTED:
            state = "waiting_for_applicant"
        elif task.special_procedure:
            state = "special_procedure"
        else:
            state = "deciding"
        found.append(Deciding(department_name(catalogue, task.department_code), state))
    return found


def to_provide(
    status: ApprovalStatus, outstanding: Iterable[str], catalogue: Catalogue
) -> list[Request]:
    """The open supplement requests: each department's (its own materials and deadline),
    then what acceptance asked for that no department's request names.

    `outstanding` is what is still missing (asked for and not yet supplied,
    `approval_status.outstanding_materials`)."""
    if status.finished:
        return []
    missing = list(outstanding)
    requests: list[Request] = []
    named: set[str] = set()
    for task in sorted(status.tasks.values(), key=lambda task: task.department_code):
        if task.finished or task.state_or_started is not TaskState.SUPPLEMENT_REQUESTED:
            continue
        materials = [code for code in task.supplement_materials if code in missing]
        named.update(task.supplement_materials)
        requests.append(
            Request(
                department=department_name(catalogue, task.department_code),
                materials=tuple(material_name(catalogue, code) for code in materials),
                due_on=china_date(task.supplement_due_at) if task.supplement_due_at else None,
            )
        )
    left = [code for code in missing if code not in named]
    if left:
        due = status.supplement_due_at
        requests.insert(
            0,
            Request(
                department=None,
                materials=tuple(material_name(catalogue, code) for code in left),
                due_on=china_date(due) if due is not None else None,
            ),
        )
    return requests


def last_steps(
    status: ApprovalStatus,
    catalogue: Catalogue,
    *,
    submitted_at: datetime | None = None,
    limit: int = LAST_STEPS,
) -> list[StepText]:
    """The latest `limit` steps in plain words, newest first. The submission (which
    intake knows itself, not from the approval events) is one of them."""
    steps = list(status.steps)
    if submitted_at is not None and not any(s.kind is StepKind.SUBMITTED for s in steps):
        steps.append(Step(StepKind.SUBMITTED, submitted_at))
    steps.sort(key=lambda step: step.at)
    return [step_text(step, catalogue) for step in reversed(steps[-limit:])] if limit else []


_SPECIAL = {
    "expert_review": Name("专家评审", "an expert review"),
    "hearing": Name("听证", "a hearing"),
    "public_notice": Name("公示", "a public notice"),
    "on_site_inspection": Name("现场踏勘", "an on-site inspection"),
}
_SPECIAL_OTHER = Name("特别程序", "a special procedure")

# {d}: the department's name; {p}: the special procedure's.
_WORDS: dict[StepKind, tuple[str, str]] = {
    StepKind.SUBMITTED: ("已提交申请", "Application submitted"),
    StepKind.ACCEPTED: ("已受理，进入审批", "Accepted; approval started"),
    StepKind.ACCEPTED_WITH_DEFICIENCY: (
        "已容缺受理，进入审批（请在办结前补交材料）",
        "Accepted with items to follow; approval started (provide them before completion)",
    ),
    StepKind.SUPPLEMENT_REQUESTED: (
        "需补正材料，补齐后受理",
        "Materials requested; accepted once they arrive",
    ),
    StepKind.REFUSED: ("不予受理", "Not accepted"),
    StepKind.TASK_STARTED: ("{d}开始审查", "{d} started its review"),
    StepKind.TASK_APPROVED: ("{d}审批通过", "{d} approved"),
    StepKind.TASK_REJECTED: ("{d}决定不予许可", "{d} refused its approval"),
    StepKind.TASK_SUPPLEMENT_REQUESTED: (
        "{d}要求补正材料，该环节暂停计时",
        "{d} asked for more materials; its clock is paused",
    ),
    StepKind.SUPPLEMENT_RECEIVED: (
        "已收到补正材料，恢复计时",
        "Materials received; clocks resumed",
    ),
    StepKind.SPECIAL_PROCEDURE_STARTED: (
        "{d}开始{p}（不计入办理时限）",
        "{d} started {p} (not counted in the time limit)",
    ),
    StepKind.SPECIAL_PROCEDURE_ENDED: ("{d}{p}结束", "{d} finished {p}"),
    StepKind.EXTENDED: ("{d}经批准延长办理期限", "{d} was granted more time"),
    StepKind.RETURNED: ("{d}的意见退回重审", "{d}'s opinion was sent back for re-review"),
    StepKind.DEPARTMENT_ADDED: ("{d}加入审批", "{d} joined the approval"),
    StepKind.DEPARTMENT_REMOVED: ("{d}退出审批", "{d} left the approval"),
    StepKind.COMPLETED: ("已办结", "Completed"),
    StepKind.REJECTED: ("审批未通过，办件终止", "Not approved; the application ended"),
    StepKind.WITHDRAWN: ("已撤回", "Withdrawn"),
}


def step_text(step: Step, catalogue: Catalogue) -> StepText:
    department = department_name(catalogue, step.department_code)
    special = _SPECIAL.get(step.detail, _SPECIAL_OTHER)
    zh, en = _WORDS[step.kind]
    return StepText(
        at=step.at,
        zh=zh.format(d=department.zh, p=special.zh),
        en=_capitalised(en.format(d=department.en, p=special.en)),
    )


def department_name(catalogue: Catalogue, code: str) -> Name:
    department = catalogue.department(code) if code else None
    if department is None:
        return _UNKNOWN_DEPARTMENT
    return Name(department.name_zh, department.name_en)


def material_name(catalogue: Catalogue, code: str) -> Name:
    material = catalogue.material(code)
    if material is None:
        # A code the catalogue no longer names: shown as it is (codes are not personal).
        return Name(code, code)
    return Name(material.name_zh, material.name_en)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
