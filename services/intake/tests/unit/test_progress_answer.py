"""What the progress lookup answers to "when?", derived from the approval status (the
fold of realistic events), the catalogue and the calendar."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.approval import ApprovalStatus, fold
from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.events.v1 import approval_pb2
from onceonly.intake.approval_status import (
    NOT_EXAMINED,
    clock_json,
    outstanding_materials,
    steps_json,
    stored_status,
    tasks_json,
)
from onceonly.intake.progress_answer import (
    LAST_STEPS,
    Deciding,
    Expected,
    Name,
    Request,
    deciding,
    expected_completion,
    last_steps,
    to_provide,
    working_days_left,
)

CATALOGUE = default_catalogue()
CODE = "330100-20250303-0004276"
MATTER = "business-startup"
# Monday 2025-03-03, 09:00 China Standard Time.
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
MARKET, POLICE, TAX, HR = "market-regulation", "public-security", "tax", "human-resources"


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def end_of_china_day(day: date) -> datetime:
    # How the workflow sends deadlines: the last second of the day, China Standard Time.
    return datetime(day.year, day.month, day.day, 15, 59, 59, tzinfo=UTC)


def clock(due: date | None, *, provisional: bool = False, paused: bool = False):
    found = approval_pb2.Clock(
        committed_days=3, day_kind="working", paused=paused, provisional=provisional
    )
    found.started_at.CopyFrom(ts(T0))
    if due is not None:
        found.due_at.CopyFrom(ts(end_of_china_day(due)))
    return found


def folded(*timed: tuple[float, Message], status: ApprovalStatus = NOT_EXAMINED) -> ApprovalStatus:
    for hours, message in timed:
        status = fold(status, message, at=T0 + timedelta(hours=hours))
    return status


def accepted(due: date | None = date(2025, 3, 6), **kw) -> approval_pb2.ApplicationAccepted:
    return approval_pb2.ApplicationAccepted(
        application_code=CODE,
        matter_code=MATTER,
        outcome=kw.pop("outcome", approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED),
        clock=clock(due, provisional=kw.pop("provisional", False)),
        **kw,
    )


def started(department: str, due: date = date(2025, 3, 4), **kw) -> approval_pb2.TaskStarted:
    return approval_pb2.TaskStarted(
        application_code=CODE, department_code=department, clock=clock(due, **kw)
    )


def decided(department: str, outcome: int, *missing: str, supplement_due: datetime | None = None):
    message = approval_pb2.TaskDecided(
        application_code=CODE,
        department_code=department,
        outcome=outcome,  # type: ignore[arg-type]
        reason="申请人张三的照片不清晰（审查员李四）",
        missing_materials=list(missing),
        clock=clock(None, paused=outcome == approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED),
    )
    if supplement_due is not None:
        message.supplement_due_at.CopyFrom(ts(supplement_due))
    return message


APPROVED = approval_pb2.DECISION_OUTCOME_APPROVED
SUPPLEMENT = approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED
RUNNING = (
    (1, accepted()),
    (1, started(MARKET)),
    (1, started(POLICE)),
    (1, started(TAX)),
    (1, started(HR)),
)


def test_in_approval_the_date_is_the_application_s_deadline_with_working_days_left() -> None:
    status = folded(*RUNNING, (5, decided(MARKET, APPROVED)))
    expected = expected_completion(status)
    assert expected == Expected(due_on=date(2025, 3, 6), provisional=False, paused=False)
    calendar = WorkingCalendar()
    # Monday: Tuesday, Wednesday and Thursday are left; on Thursday none; after, overdue.
    assert working_days_left(calendar, today=date(2025, 3, 3), due_on=expected.due_on) == 3
    assert working_days_left(calendar, today=date(2025, 3, 6), due_on=expected.due_on) == 0
    # Friday and the next Monday overdue (the weekend is no working day).
    assert working_days_left(calendar, today=date(2025, 3, 10), due_on=expected.due_on) == -2


def test_a_task_extended_past_the_application_s_deadline_moves_the_date_and_its_mark() -> None:
    extension = approval_pb2.ExtensionDecided(
        application_code=CODE,
        department_code=TAX,
        approved=True,
        days=10,
        clock=clock(date(2027, 1, 5), provisional=True),
    )
    status = folded(*RUNNING, (30, extension))
    assert expected_completion(status) == Expected(date(2027, 1, 5), provisional=True, paused=False)
    # Decided, the extended task no longer holds the date.
    done = folded((40, decided(TAX, APPROVED)), status=status)
    assert expected_completion(done) == Expected(date(2025, 3, 6), provisional=False, paused=False)


def test_the_acceptance_s_provisional_mark_is_kept() -> None:
    status = folded((1, accepted(date(2027, 1, 6), provisional=True)))
    assert expected_completion(status) == Expected(date(2027, 1, 6), provisional=True, paused=False)


@pytest.mark.parametrize(
    "events",
    [
        (),  # submitted, nothing heard yet
        (
            (
                1,
                accepted(
                    None,
                    outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
                    missing_materials=["premises-proof"],
                ),
            ),
        ),
        (*RUNNING, (9, approval_pb2.ApplicationWithdrawn(application_code=CODE))),
        ((1, accepted()), (2, approval_pb2.ApplicationCompleted(application_code=CODE))),
    ],
    ids=["submitted", "awaiting-supplement", "withdrawn", "completed"],
)
def test_no_date_before_acceptance_while_acceptance_waits_or_once_finished(events) -> None:
    status = folded(*events)
    assert expected_completion(status) is None


def test_departments_still_deciding_are_named_in_the_matter_s_order() -> None:
    hearing = approval_pb2.SpecialProcedureStarted(
        application_code=CODE, department_code=POLICE, kind="hearing"
    )
    status = folded(
        *RUNNING,
        (2, decided(MARKET, APPROVED)),
        (3, decided(TAX, SUPPLEMENT, "premises-proof")),
        (4, hearing),
    )
    assert deciding(status, CATALOGUE, matter_code=MATTER) == [
        Deciding(Name("公安局", "Public Security Bureau"), "special_procedure"),
        Deciding(Name("税务局", "Tax Bureau"), "waiting_for_applicant"),
        Deciding(
            Name("人力资源和社会保障局", "Human Resources and Social Security Bureau"), "deciding"
        ),
    ]
    expected = expected_completion(status)
    assert expected is not None and expected.paused
    # No department codes in what is shown.
    assert MARKET not in json.dumps(
        [asdict(item) for item in deciding(status, CATALOGUE, matter_code=MATTER)]
    )


def test_what_to_provide_names_each_request_s_materials_and_deadline() -> None:
    due = datetime(2025, 3, 23, 1, 0, tzinfo=UTC)  # 09:00 in China
    deficient = accepted(
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
        missing_materials=["articles-of-association"],
    )
    status = folded(
        (1, deficient),
        (1, started(TAX)),
        (3, decided(TAX, SUPPLEMENT, "premises-proof", supplement_due=due)),
    )
    outstanding = outstanding_materials(status, supplied=set())
    assert to_provide(status, outstanding, CATALOGUE) == [
        Request(
            department=None,
            materials=(_name("articles-of-association"),),
            due_on=None,  # 容缺: before completion
        ),
        Request(
            department=Name("税务局", "Tax Bureau"),
            materials=(_name("premises-proof"),),
            due_on=date(2025, 3, 23),
        ),
    ]
    # Supplied (recorded by intake) before the workflow's ClocksResumed: no longer asked.
    supplied = outstanding_materials(status, supplied={"premises-proof"})
    tax = to_provide(status, supplied, CATALOGUE)[1]
    assert tax.materials == () and tax.due_on == date(2025, 3, 23)
    resumed = approval_pb2.ClocksResumed(
        application_code=CODE, department_codes=[TAX], materials=["premises-proof"]
    )
    after = folded((5, resumed), status=status)
    assert to_provide(after, outstanding_materials(after, set()), CATALOGUE) == [
        Request(None, (_name("articles-of-association"),), None)
    ]


def test_acceptance_s_supplement_request_has_its_deadline() -> None:
    due = datetime(2025, 3, 22, 20, 0, tzinfo=UTC)  # already the 23rd in China
    request = accepted(
        None,
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
        missing_materials=["premises-proof", "articles-of-association"],
        supplement_due_at=ts(due),
    )
    status = folded((1, request))
    (only,) = to_provide(status, outstanding_materials(status, set()), CATALOGUE)
    assert only.department is None and only.due_on == date(2025, 3, 23)
    assert [m.en for m in only.materials] == [
        _name("premises-proof").en,
        _name("articles-of-association").en,
    ]


def test_the_last_steps_are_plain_words_newest_first_without_reasons_or_staff() -> None:
    assigned = approval_pb2.TaskAssigned(
        application_code=CODE, department_code=TAX, assignee="李四"
    )
    status = folded(
        *RUNNING,
        (2, assigned),
        (3, decided(MARKET, APPROVED)),
        (4, decided(TAX, SUPPLEMENT, "premises-proof")),
    )
    steps = last_steps(status, CATALOGUE, submitted_at=T0)
    assert len(steps) == LAST_STEPS
    assert [(step.zh, step.en) for step in steps[:3]] == [
        (
            "税务局要求补正材料，该环节暂停计时",
            "Tax Bureau asked for more materials; its clock is paused",
        ),
        ("市场监督管理局审批通过", "Administration for Market Regulation approved"),
        (
            "人力资源和社会保障局开始审查",
            "Human Resources and Social Security Bureau started its review",
        ),
    ]
    times = [step.at for step in steps]
    assert times == sorted(times, reverse=True)
    shown = json.dumps([asdict(step) for step in steps], ensure_ascii=False, default=str)
    for private in ("张三", "李四", "照片"):
        assert private not in shown
    # The submission, which intake knows itself, is a step too.
    early = last_steps(folded((1, accepted())), CATALOGUE, submitted_at=T0)
    assert [step.en for step in early] == ["Accepted; approval started", "Application submitted"]


def test_a_step_of_a_department_the_catalogue_does_not_name_says_a_department() -> None:
    status = folded((1, accepted()), (2, started("gone-department")))
    (newest, _) = last_steps(status, CATALOGUE)
    assert (newest.zh, newest.en) == ("审批部门开始审查", "A department started its review")


def _name(code: str) -> Name:
    material = CATALOGUE.material(code)
    assert material is not None, code
    return Name(material.name_zh, material.name_en)


def test_the_answer_is_the_same_from_intake_s_stored_row() -> None:
    hearing = approval_pb2.SpecialProcedureStarted(
        application_code=CODE, department_code=POLICE, kind="hearing"
    )
    due = datetime(2025, 3, 23, 1, 0, tzinfo=UTC)
    status = folded(
        *RUNNING,
        (3, decided(TAX, SUPPLEMENT, "premises-proof", supplement_due=due)),
        (4, hearing),
    )
    row = stored_status(
        status=status.state.value,
        reason=status.reason,
        missing_materials=status.missing_materials,
        missing_since=status.missing_since,
        clock=json.loads(json.dumps(clock_json(status.clock))),
        tasks=json.loads(json.dumps(tasks_json(status))),
        elicence_number=status.elicence_number,
        last_event_at=status.last_event_at,
        supplement_due_at=status.supplement_due_at,
        steps=json.loads(json.dumps(steps_json(status))),
    )
    assert expected_completion(row) == expected_completion(status)
    assert expected_completion(row).paused  # type: ignore[union-attr]
    assert deciding(row, CATALOGUE, matter_code=MATTER) == deciding(
        status, CATALOGUE, matter_code=MATTER
    )
    missing = outstanding_materials(status, set())
    assert to_provide(row, missing, CATALOGUE) == to_provide(status, missing, CATALOGUE)
    assert last_steps(row, CATALOGUE) == last_steps(status, CATALOGUE)
