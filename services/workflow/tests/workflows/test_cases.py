"""Rectification (差评整改) and SupervisionCase (督办件) on the time-skipping server: a
rectification answered on its 14th working day is on time and on its 16th is late; a
supervision case climbs from the department head to the supervision office and closes on
the department's response; the validators' refusals change nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME, WorkingCalendar
from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.case_activities import CaseActivities
from onceonly.workflow.case_clocks import (
    DEFAULT_CASE_LEVELS,
    case_code,
    end_of,
    rectification_code,
)
from onceonly.workflow.case_shared import (
    CaseLevelInput,
    CaseResponseInput,
    RectificationInput,
    RectificationStepInput,
    SupervisionCaseInput,
)
from onceonly.workflow.rectification_workflow import Rectification
from onceonly.workflow.shared import ErrorType
from onceonly.workflow.supervision_case_workflow import SupervisionCase
from services.workflow.tests.conftest import RecordingProducer

DEPARTMENT = "public-security"
REVIEWER = {"staff_id": "r-1", "staff_department": DEPARTMENT, "staff_roles": ["reviewer"]}
HEAD = {"staff_id": "h-1", "staff_department": DEPARTMENT, "staff_roles": ["department_head"]}
YELLOW = supervision_pb2.SUPERVISION_LEVEL_YELLOW
RED = supervision_pb2.SUPERVISION_LEVEL_RED


class ListedCases:
    def __init__(self) -> None:
        self.views: list[tuple[str, dict]] = []

    async def record(self, kind: str, view: dict) -> None:
        self.views.append((kind, view))


@dataclass
class Cases:
    env: WorkflowEnvironment
    task_queue: str
    producer: RecordingProducer
    listed: ListedCases
    # Weekends only: the test's days are counted the way the activity counts them,
    # whatever year the time-skipping server has reached.
    calendar: WorkingCalendar

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep_until(self, at: datetime) -> None:
        await self.env.sleep(at - await self.now())

    def noon_of_working_day(self, start: datetime, n: int) -> datetime:
        day = self.calendar.add_working_days(start.astimezone(CHINA_STANDARD_TIME).date(), n)
        return _noon(day.due)

    async def messages(self, type_name: str, count: int) -> list:
        """The published messages of a type once `count` are out (an activity may finish
        just after a sleep returns)."""
        return await eventually(
            lambda: _now_value(self.producer.messages(type_name)),
            lambda found: len(found) >= count,
            within=10.0,
            interval=0.05,
            what=f"{count} {type_name}",
        )

    async def rate(self, level: int = 1) -> WorkflowHandle:
        application = f"330100-20261205-{uuid.uuid4().int % 10**6:06d}X"
        rated_at = await self.now()
        return await self.env.client.start_workflow(
            Rectification.run,
            RectificationInput(
                case_code=rectification_code(application),
                application_code=application,
                department_code=DEPARTMENT,
                rating_level=level,
                rated_at=rated_at.isoformat(),
                matter_code="household-transfer",
                rating_comment="办理太慢",
            ),
            id=rectification_code(application),
            task_queue=self.task_queue,
        )

    async def open_case(self, levels: list[CaseLevelInput] | None = None) -> WorkflowHandle:
        application = f"330100-20261205-{uuid.uuid4().int % 10**6:06d}X"
        code = case_code(application, DEPARTMENT, 1)
        opened = await self.now()
        return await self.env.client.start_workflow(
            SupervisionCase.run,
            SupervisionCaseInput(
                case_code=code,
                application_code=application,
                department_code=DEPARTMENT,
                levels=levels
                or [
                    CaseLevelInput(level.addressee, level.response_days)
                    for level in DEFAULT_CASE_LEVELS
                ],
                opened_at=opened.isoformat(),
                matter_code="household-transfer",
                clock_department_code=DEPARTMENT,
                clock_due_at=opened.isoformat(),
            ),
            id=code,
            task_queue=self.task_queue,
        )


async def _now_value(value: list) -> list:
    return value


def _noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=CHINA_STANDARD_TIME)


@pytest_asyncio.fixture
async def cases(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Cases]:
    producer = RecordingProducer()
    listed = ListedCases()
    calendar = WorkingCalendar(use_library=False, estimate_statutory=False)
    task_queue = f"cases-{uuid.uuid4().hex[:8]}"
    activities = CaseActivities(
        producer=producer, topic_prefix="test", calendar=calendar, cases=listed
    )
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[Rectification, SupervisionCase],
        activities=[
            activities.rectification_clock,
            activities.case_response_due,
            activities.publish_case_event,
        ],
    ):
        yield Cases(time_skipping_env, task_queue, producer, listed, calendar)


async def step(handle: WorkflowHandle, name: str, text: str, *, who=None, satisfied=False):
    return await handle.execute_update(
        Rectification.record_step,
        RectificationStepInput(**(who or REVIEWER), step=name, text=text, satisfied=satisfied),
    )


async def answer_on_working_day(cases: Cases, handle: WorkflowHandle, day: int):
    await cases.messages("RectificationOpened", 1)
    view = await handle.query(Rectification.view)
    start = datetime.fromisoformat(view.rated_at)
    await step(handle, "callback", "已电话回访申请人 / called the rater back")
    await step(handle, "rectification", "窗口增加一名工作人员 / one more clerk at the window")
    await cases.sleep_until(cases.noon_of_working_day(start, day))
    return await step(handle, "answer", "已书面答复 / answered in writing", who=HEAD)


async def test_a_rectification_answered_on_working_day_14_is_on_time(
    cases: Cases, record_history
) -> None:
    handle = await cases.rate(level=2)
    await cases.messages("RectificationOpened", 1)
    view = await handle.query(Rectification.view)
    assert view.status == "open" and view.limit_days == 15
    start = datetime.fromisoformat(view.rated_at)
    assert view.due_at == end_of(cases.calendar.add_working_days(_day(start), 15).due)
    answered = await answer_on_working_day(cases, handle, 14)
    assert answered.status == "answered" and answered.late is False
    [message] = await cases.messages("RectificationAnswered", 1)
    assert not message.late and message.department_code == DEPARTMENT
    # Yellow came at the end of the 12th working day (80 %), red never.
    alerts = cases.producer.messages("RectificationAlert")
    assert [alert.level for alert in alerts] == [YELLOW]
    closed = await step(handle, "view", "基本满意", satisfied=True)
    assert closed.status == "closed" and closed.rater_satisfied is True
    result = await handle.result()
    assert result.status == "closed" and result.late is False
    [closing] = await cases.messages("RectificationClosed", 1)
    assert closing.rater_satisfied and not closing.late
    # Every event on the application's timeline, the list as of the last one.
    assert {e.subject for _, e in cases.producer.sent} == {view.application_code}
    assert cases.listed.views[-1][0] == "rectification"
    assert cases.listed.views[-1][1]["status"] == "closed"
    await record_history(handle, "rectification-answered-on-time")


async def test_a_rectification_answered_on_working_day_16_is_late(cases: Cases) -> None:
    handle = await cases.rate(level=1)
    answered = await answer_on_working_day(cases, handle, 16)
    assert answered.late is True
    [message] = await cases.messages("RectificationAnswered", 1)
    assert message.late
    alerts = await cases.messages("RectificationAlert", 2)
    assert [alert.level for alert in alerts] == [YELLOW, RED]
    assert alerts[1].seconds_left <= 0 < alerts[0].seconds_left
    closed = await step(handle, "view", "仍不满意", satisfied=False)
    assert closed.status == "closed" and closed.rater_satisfied is False
    [closing] = await cases.messages("RectificationClosed", 1)
    assert closing.late and not closing.rater_satisfied


async def refused(handle: WorkflowHandle, update, argument) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, argument)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_rectification_refusals_change_nothing(cases: Cases) -> None:
    handle = await cases.rate()
    await cases.messages("RectificationOpened", 1)
    before = await handle.query(Rectification.view)
    other = {**REVIEWER, "staff_department": "tax"}
    window = {**REVIEWER, "staff_roles": ["window"]}
    attempts = [
        (RectificationStepInput(**other, step="callback", text="x"), ErrorType.WRONG_DEPARTMENT),
        (RectificationStepInput(**window, step="callback", text="x"), ErrorType.WRONG_ROLE),
        (RectificationStepInput(**REVIEWER, step="answer", text="x"), ErrorType.TASK_NOT_OPEN),
        (RectificationStepInput(**REVIEWER, step="callback", text=" "), ErrorType.INVALID_DECISION),
        (RectificationStepInput(**REVIEWER, step="shout", text="x"), ErrorType.INVALID_DECISION),
    ]
    for argument, error in attempts:
        cause = await refused(handle, Rectification.record_step, argument)
        assert cause.type == error.value, argument
    blank = await refused(
        handle, Rectification.record_step, RectificationStepInput(**REVIEWER, step="callback")
    )
    assert blank.message.startswith("note:")
    after = await handle.query(Rectification.view)
    assert after == before
    assert cases.producer.types() == ["RectificationOpened"]
    await handle.terminate("test done")


async def test_a_supervision_case_climbs_to_the_office_and_closes_on_the_response(
    cases: Cases, record_history
) -> None:
    handle = await cases.open_case()
    [opened] = await cases.messages("SupervisionCaseOpened", 1)
    assert (opened.level, opened.addressee, opened.response_days) == (1, "department_head", 3)
    start = datetime.fromisoformat((await handle.query(SupervisionCase.view)).opened_at)
    head_due = end_of(cases.calendar.add_working_days(_day(start), 3).due)
    assert opened.response_due_at.ToDatetime().replace(tzinfo=None) == _naive_utc(head_due)

    # No response from the department head's level in time: the supervision office's.
    await cases.sleep_until(head_due + timedelta(hours=1))
    [escalated] = await cases.messages("SupervisionCaseEscalated", 1)
    assert (escalated.level, escalated.addressee, escalated.response_days) == (
        2,
        "supervision_office",
        5,
    )
    view = await handle.query(SupervisionCase.view)
    assert view.status == "open" and view.level == 2 and view.addressee == "supervision_office"
    office_due = view.response_due_at
    assert office_due is not None and office_due > head_due

    # Only the department head's written response closes it.
    reviewer = await refused(
        handle, SupervisionCase.respond, CaseResponseInput(**REVIEWER, response="done")
    )
    assert reviewer.type == ErrorType.WRONG_ROLE.value
    other = {**HEAD, "staff_department": "tax"}
    elsewhere = await refused(
        handle, SupervisionCase.respond, CaseResponseInput(**other, response="done")
    )
    assert elsewhere.type == ErrorType.WRONG_DEPARTMENT.value
    empty = await refused(handle, SupervisionCase.respond, CaseResponseInput(**HEAD, response=""))
    assert empty.type == ErrorType.INVALID_DECISION.value and empty.message.startswith("response")
    assert (await handle.query(SupervisionCase.view)).status == "open"

    closed = await handle.execute_update(
        SupervisionCase.respond,
        CaseResponseInput(**HEAD, response="已完成审查, 原因是人手不足 / reviewed; short-staffed"),
    )
    assert closed.status == "closed" and closed.level == 2 and closed.late is False
    result = await handle.result()
    assert result.status == "closed"
    [message] = await cases.messages("SupervisionCaseClosed", 1)
    assert message.level == 2 and message.addressee == "supervision_office"
    assert not message.late and message.response.startswith("已完成")
    assert cases.producer.types() == [
        "SupervisionCaseOpened",
        "SupervisionCaseEscalated",
        "SupervisionCaseClosed",
    ]
    assert cases.listed.views[-1][1]["status"] == "closed"
    await record_history(handle, "supervision-case-escalated-then-answered")


async def test_the_last_level_stays_open_until_the_response(cases: Cases) -> None:
    handle = await cases.open_case([CaseLevelInput("department_head", 1)])
    await cases.messages("SupervisionCaseOpened", 1)
    await cases.env.sleep(timedelta(days=30))
    view = await handle.query(SupervisionCase.view)
    assert view.status == "open" and view.level == 1
    assert cases.producer.types() == ["SupervisionCaseOpened"]
    closed = await handle.execute_update(
        SupervisionCase.respond, CaseResponseInput(**HEAD, response="late, but answered")
    )
    assert closed.late is True
    await handle.result()


def _day(at: datetime) -> date:
    return at.astimezone(CHINA_STANDARD_TIME).date()


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)
