"""The window's review at acceptance (受理审查) and its written refusal (不予受理决定), on the
time-skipping server: the food business licence, whose window reviews every complete
application within 5 working days (the fictional holiday calendar of test_holiday)."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.catalogue.testing import holiday_calendar
from onceonly.events.v1 import approval_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    AcceptanceReviewInput,
    ApplicationInput,
    ContactInput,
    WithdrawalInput,
)
from onceonly.workflow.worker import build_worker
from onceonly.workflow.workflows import JointApproval
from services.workflow.tests.workflows.construction import noon

MATTER = "food-business-licence"
COMPLETE = ["food-licence-application", "premises-layout", "food-safety-rules"]
WINDOW = {"staff_id": "win-07", "staff_department": "service-centre", "staff_roles": ["window"]}
BASIS = "《食品经营许可和备案管理办法》第十五条 / Food Business Licensing Measures, art. 15"


def refusal(**overrides: object) -> AcceptanceReviewInput:
    fields: dict = {
        "accept": False,
        "reason": "经营场所不在本辖区 / premises outside this jurisdiction",
        "legal_basis": BASIS,
        **WINDOW,
        **overrides,
    }
    return AcceptanceReviewInput(**fields)


@pytest.fixture
def start(time_skipping_env, harness, make_activities):
    """Starts an application for `materials`; yields (handle, producer, calendar, env)."""

    @asynccontextmanager
    async def started(materials: list[str]):
        now = await time_skipping_env.get_current_time()
        today = now.astimezone(CHINA_STANDARD_TIME).date()
        calendar, _, _ = holiday_calendar(today)
        task_queue = f"window-{uuid.uuid4().hex[:8]}"
        code = f"330100-{today:%Y%m%d}-{uuid.uuid4().int % 10**6:06d}W"
        app = ApplicationInput(
            application_code=code,
            matter_code=MATTER,
            integrator_id="kiosk",
            applicant_kind="organisation",
            materials=materials,
            contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
            submitted_at=now.isoformat(),
        )
        activities = make_activities(harness.producer, calendar)
        worker = build_worker(
            time_skipping_env.client, task_queue=task_queue, activities=activities
        )
        async with worker:
            handle = await time_skipping_env.client.start_workflow(
                JointApproval.run, app, id=code, task_queue=task_queue
            )
            yield handle, harness.producer, calendar, time_skipping_env
            if not (await handle.describe()).close_time:
                await handle.signal(JointApproval.withdraw, WithdrawalInput("test over"))
                await handle.result()

    return started


def accepted_events(producer: object, code: str) -> list[approval_pb2.ApplicationAccepted]:
    return [m for m in producer.messages("ApplicationAccepted") if m.application_code == code]


async def refused_as(call: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    return caught.value.cause.type


async def test_a_complete_application_waits_for_the_window_and_starts_once_accepted(
    start,
) -> None:
    async with start(COMPLETE) as (handle, producer, _, _):
        snap = await handle.query(JointApproval.snapshot)
        assert snap.state == "acceptance" and snap.tasks == []
        assert accepted_events(producer, handle.id) == []
        answer = await handle.execute_update(
            JointApproval.review_acceptance, AcceptanceReviewInput(True, **WINDOW)
        )
        assert answer.accepted and answer.decision_number == ""
        snap = await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda s: len(s.tasks) == 1,
            what="the task started",
        )
        assert snap.state == "in_approval"
        (event,) = accepted_events(producer, handle.id)
        assert event.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED


async def test_the_window_refuses_with_a_written_decision(start, record_history) -> None:
    async with start(COMPLETE) as (handle, producer, _, _):
        answer = await handle.execute_update(JointApproval.review_acceptance, refusal())
        assert not answer.accepted and answer.decision_number == f"BYSL-{handle.id}"
        result = await handle.result()
        assert result.state == "refused"
        await record_history(handle, "window-refusal")
        (event,) = accepted_events(producer, handle.id)
        assert event.outcome == approval_pb2.ACCEPTANCE_OUTCOME_REFUSED
        assert event.decision_number == f"BYSL-{handle.id}"
        assert event.legal_basis == BASIS and event.reason.startswith("经营场所")
        assert (event.actor.id, event.actor.department_code) == ("win-07", "service-centre")
        assert event.HasField("contact")  # the applicant is told
        assert producer.messages("TaskStarted") == [] or all(
            m.application_code != handle.id for m in producer.messages("TaskStarted")
        )


async def test_unanswered_for_five_working_days_the_application_counts_as_accepted(
    start,
) -> None:
    async with start(COMPLETE) as (handle, producer, calendar, env):
        submitted = (await env.get_current_time()).astimezone(CHINA_STANDARD_TIME).date()
        deadline = calendar.add_working_days(submitted, 5).due
        # The day before the review's deadline: still waiting for the window.
        await env.sleep(noon(deadline - timedelta(days=1)) - await env.get_current_time())
        assert (await handle.query(JointApproval.snapshot)).tasks == []
        await env.sleep(noon(deadline + timedelta(days=1)) - await env.get_current_time())
        await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda s: len(s.tasks) == 1,
            what="deemed accepted",
        )
        (event,) = accepted_events(producer, handle.id)
        assert event.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
        assert (
            await refused_as(
                handle.execute_update(
                    JointApproval.review_acceptance, AcceptanceReviewInput(True, **WINDOW)
                )
            )
            == "NotAtAcceptance"
        )


async def test_the_window_refuses_an_application_waiting_for_a_supplement(start) -> None:
    async with start(COMPLETE[:1]) as (handle, producer, _, _):
        await eventually(
            lambda: handle.query(JointApproval.snapshot),
            lambda s: s.state == "awaiting_supplement",
            what="the supplement request",
        )
        # Accepting is not the window's to do here: the supplement decides.
        assert (
            await refused_as(
                handle.execute_update(
                    JointApproval.review_acceptance, AcceptanceReviewInput(True, **WINDOW)
                )
            )
            == "NotAtAcceptance"
        )
        await handle.execute_update(JointApproval.review_acceptance, refusal())
        assert (await handle.result()).state == "refused"
        requested, refused_event = accepted_events(producer, handle.id)
        assert requested.outcome == approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED
        assert refused_event.outcome == approval_pb2.ACCEPTANCE_OUTCOME_REFUSED
        assert refused_event.decision_number == f"BYSL-{handle.id}"


async def test_invalid_reviews_are_refused_and_change_nothing(start) -> None:
    async with start(COMPLETE) as (handle, producer, _, _):
        reviewer = {**WINDOW, "staff_roles": ["reviewer"]}
        cases = [
            (AcceptanceReviewInput(True, **reviewer), "WrongRole"),
            (refusal(legal_basis=" "), "InvalidDecision"),
            (refusal(reason=""), "InvalidDecision"),
        ]
        for request, expected in cases:
            assert (
                await refused_as(handle.execute_update(JointApproval.review_acceptance, request))
                == expected
            )
        assert accepted_events(producer, handle.id) == []
        assert (await handle.query(JointApproval.snapshot)).state == "acceptance"
