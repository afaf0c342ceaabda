"""The JointApproval workflow on Temporal's time-skipping test server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from onceonly.events.v1 import approval_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.event_ids import event_key, logical_event_id
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    ContactInput,
    DecisionInput,
    DecisionResult,
    DepartmentChangeInput,
    ReturnInput,
    SupplementInput,
    WithdrawalInput,
)
from onceonly.workflow.workflows import JointApproval

HOUSEHOLD_MATERIALS = ["transfer-application", "resident-id", "housing-proof", "household-register"]
STARTUP_MATERIALS = [
    "registration-form",
    "articles-of-association",
    "legal-rep-id",
    "premises-proof",
    "seal-specimen",
]
STARTUP_DEPARTMENTS = ["market-regulation", "public-security", "tax", "human-resources"]


def application(code: str, matter: str, materials: list[str]) -> ApplicationInput:
    return ApplicationInput(
        application_code=code,
        matter_code=matter,
        integrator_id="portal",
        applicant_kind="person",
        materials=materials,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-11-23T01:00:00+00:00",
    )


async def start(harness, app: ApplicationInput) -> WorkflowHandle:
    return await harness.client.start_workflow(
        WORKFLOW_NAME,
        app,
        id=app.application_code,
        task_queue=harness.task_queue,
        result_type=ApplicationResult,
    )


async def wait_for_tasks(handle: WorkflowHandle, count: int) -> ApplicationSnapshot:
    # Real time, not a number of queries: a busy machine runs the activities later.
    return await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: len(snap.tasks) == count,
        what=f"{count} tasks",
    )


def decision(department: str, outcome: str = "approved", reason: str = "") -> DecisionInput:
    return DecisionInput(
        department_code=department,
        outcome=outcome,
        staff_id=f"{department}-reviewer",
        staff_department=department,
        reason=reason,
    )


async def close(handle: WorkflowHandle) -> None:
    """End a test's workflow by withdrawal and wait for it. (Terminating it with an
    activity in flight leaves the test server unable to skip time for later tests.)"""
    await handle.signal("withdraw", WithdrawalInput("test over"))
    assert (await handle.result()).state == "withdrawn"


async def decide(handle: WorkflowHandle, d: DecisionInput) -> DecisionResult:
    return await handle.execute_update("decide", d, result_type=DecisionResult)


async def test_one_department_application_completes(harness, application_code, record_history):
    handle = await start(
        harness, application(application_code, "household-transfer", HOUSEHOLD_MATERIALS)
    )
    snap = await wait_for_tasks(handle, 1)
    assert snap.state == "in_approval"
    assert snap.tasks[0].department_code == "public-security"

    result = await decide(handle, decision("public-security"))
    assert result.task_state == "approved"
    outcome = await handle.result()
    await record_history(handle, "completed-household-transfer")

    assert outcome.state == "completed"
    assert outcome.elicence_number == f"EL-{application_code}"
    assert harness.producer.types() == [
        "ApplicationAccepted",
        "TaskStarted",
        "TaskDecided",
        "ApplicationCompleted",
    ]
    ids = [envelope.id for _, envelope in harness.producer.sent]
    assert len(set(ids)) == len(ids)
    assert all(envelope.subject == application_code for _, envelope in harness.producer.sent)
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
    assert accepted.contact.mobile.masked == "1381234****"
    # Household transfer counts 10 natural days; the deadline is a real date after that.
    assert accepted.clock.day_kind == "natural"
    assert accepted.clock.due_at.seconds - accepted.clock.started_at.seconds >= 10 * 86400 - 86400


async def test_wrong_department_cannot_decide_and_nothing_changes(harness, application_code):
    handle = await start(
        harness, application(application_code, "household-transfer", HOUSEHOLD_MATERIALS)
    )
    await wait_for_tasks(handle, 1)
    wrong = decision("public-security")
    wrong.staff_department = "tax"
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await decide(handle, wrong)
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "WrongDepartment"
    snap = await handle.query("snapshot", result_type=ApplicationSnapshot)
    assert snap.tasks[0].state == "open"
    assert "TaskDecided" not in harness.producer.types()
    await close(handle)


async def test_a_task_cannot_be_decided_twice(harness, application_code):
    handle = await start(
        harness, application(application_code, "business-startup", STARTUP_MATERIALS)
    )
    await wait_for_tasks(handle, 4)
    await decide(handle, decision("tax"))
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await decide(handle, decision("tax", "rejected", "late"))
    assert caught.value.cause.type == "TaskNotOpen"
    assert harness.producer.types().count("TaskDecided") == 1
    await close(handle)


async def test_a_rejection_needs_a_reason(harness, application_code):
    handle = await start(
        harness, application(application_code, "household-transfer", HOUSEHOLD_MATERIALS)
    )
    await wait_for_tasks(handle, 1)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await decide(handle, decision("public-security", "rejected", "  "))
    assert caught.value.cause.type == "InvalidDecision"
    await close(handle)


async def test_one_rejection_rejects_and_cancels_the_others(
    harness, application_code, record_history
):
    handle = await start(
        harness, application(application_code, "business-startup", STARTUP_MATERIALS)
    )
    snap = await wait_for_tasks(handle, 4)
    assert sorted(t.department_code for t in snap.tasks) == sorted(STARTUP_DEPARTMENTS)
    await decide(handle, decision("market-regulation"))
    await decide(handle, decision("tax", "rejected", "纳税信用等级为D级 / tax credit level D"))
    outcome = await handle.result()
    await record_history(handle, "rejected-business-startup")

    assert outcome.state == "rejected"
    cancelled = harness.producer.messages("TaskCancelled")
    assert sorted(c.department_code for c in cancelled) == ["human-resources", "public-security"]
    rejected = harness.producer.messages("ApplicationRejected")
    assert [r.department_code for r in rejected] == ["tax"]
    assert harness.producer.types()[-1] == "ApplicationRejected"
    assert harness.producer.types().count("TaskStarted") == 4


async def test_event_ids_follow_the_events_place_not_the_order_of_decisions(
    harness, application_code
):
    """Each department's decision has the id of (application, TaskDecided, department,
    first), whichever department decides first: when Temporal loses a workflow task
    whose events were already published, the run goes on from an earlier point and the
    decisions may come in another order; they keep their ids, so a republished one is
    a duplicate downstream and none takes another's id."""
    handle = await start(
        harness, application(application_code, "business-startup", STARTUP_MATERIALS)
    )
    await wait_for_tasks(handle, 4)
    for department in ("tax", "market-regulation"):
        await decide(handle, decision(department))
    decided = {
        envelope.message().department_code: envelope.id
        for _, envelope in harness.producer.sent
        if envelope.type.endswith(".TaskDecided")
    }
    assert decided == {
        department: logical_event_id(
            application_code, event_key("onceonly.events.v1.TaskDecided", department), 1
        )
        for department in ("tax", "market-regulation")
    }
    ids = [envelope.id for _, envelope in harness.producer.sent]
    assert len(set(ids)) == len(ids)
    await close(handle)


async def test_missing_material_asks_once_for_everything_then_proceeds(harness, application_code):
    handle = await start(
        harness, application(application_code, "household-transfer", ["resident-id"])
    )
    snap = await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.state == "awaiting_supplement",
        what="the supplement request",
    )
    first = harness.producer.messages("ApplicationAccepted")[0]
    assert first.outcome == approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED
    # Every missing item in one notice, tolerable ones included.
    assert sorted(first.missing_materials) == [
        "household-register",
        "housing-proof",
        "transfer-application",
    ]
    await handle.signal("supplement", SupplementInput(["transfer-application", "housing-proof"]))
    snap = await wait_for_tasks(handle, 1)
    assert snap.state == "in_approval"
    accepted = harness.producer.messages("ApplicationAccepted")[-1]
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY
    assert list(accepted.missing_materials) == ["household-register"]
    await close(handle)


async def test_before_acceptance_no_department_has_a_task(harness, application_code):
    """While the application waits for its supplement no task exists: every staff change,
    the lead department's included, is refused as an unknown task (the department API's
    404 for "not yours"), not as a task about to start (issue 15, item 10)."""
    handle = await start(
        harness, application(application_code, "household-transfer", ["resident-id"])
    )
    await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.state == "awaiting_supplement",
        what="the supplement request",
    )
    lead = {"staff_id": "ps-1", "staff_department": "public-security"}
    for update, argument in (
        (JointApproval.decide, decision("public-security")),
        (JointApproval.add_department, DepartmentChangeInput("tax", "r", **lead)),
        (JointApproval.remove_department, DepartmentChangeInput("public-security", "r", **lead)),
        (JointApproval.return_decision, ReturnInput("public-security", "r", **lead)),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(update, argument)
        assert caught.value.cause.type == "UnknownTask", update
    await close(handle)


async def test_supplement_not_provided_in_time_refuses(harness, application_code, record_history):
    handle = await start(harness, application(application_code, "household-transfer", []))
    outcome = await handle.result()  # skips 20 days
    assert outcome.state == "refused"
    last = harness.producer.messages("ApplicationAccepted")[-1]
    assert last.outcome == approval_pb2.ACCEPTANCE_OUTCOME_REFUSED
    await record_history(handle, "refused-no-supplement")


async def test_deficiency_holds_completion_until_it_arrives(
    harness, application_code, record_history
):
    materials = [m for m in HOUSEHOLD_MATERIALS if m != "household-register"]
    handle = await start(harness, application(application_code, "household-transfer", materials))
    await wait_for_tasks(handle, 1)
    await decide(handle, decision("public-security"))
    snap = await handle.query("snapshot", result_type=ApplicationSnapshot)
    assert snap.state == "in_approval"
    assert snap.missing_materials == ["household-register"]
    assert "ApplicationCompleted" not in harness.producer.types()
    await handle.signal("supplement", SupplementInput(["household-register"]))
    outcome = await handle.result()
    await record_history(handle, "completed-after-deficiency")
    assert outcome.state == "completed"


async def test_withdrawal_cancels_open_tasks(harness, application_code, record_history):
    handle = await start(
        harness, application(application_code, "business-startup", STARTUP_MATERIALS)
    )
    await wait_for_tasks(handle, 4)
    await decide(handle, decision("market-regulation"))
    await handle.signal("withdraw", WithdrawalInput("不再需要 / no longer needed"))
    outcome = await handle.result()
    await record_history(handle, "withdrawn-business-startup")
    assert outcome.state == "withdrawn"
    cancelled = harness.producer.messages("TaskCancelled")
    assert len(cancelled) == 3
    assert harness.producer.types()[-1] == "ApplicationWithdrawn"
    with pytest.raises(Exception):  # noqa: B017 - a closed workflow takes no updates at all
        await decide(handle, decision("tax"))


async def test_workflow_waits_weeks_without_failing(harness, application_code, time_skipping_env):
    handle = await start(
        harness, application(application_code, "construction-joint-approval", ["site-plan"])
    )
    await time_skipping_env.sleep(timedelta(days=10))
    snap = await handle.query("snapshot", result_type=ApplicationSnapshot)
    assert snap.state == "awaiting_supplement"
    await close(handle)
