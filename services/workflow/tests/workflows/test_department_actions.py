"""Claiming and assigning tasks, special procedures, and the deficiency deadline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    AssignmentInput,
    ContactInput,
    DecisionInput,
    DecisionResult,
    SpecialProcedureInput,
    SupplementInput,
    TaskActionResult,
    TaskSnapshot,
    WithdrawalInput,
)

HOUSEHOLD = ["transfer-application", "resident-id", "housing-proof", "household-register"]


async def start(harness, code: str, materials: list[str]) -> WorkflowHandle:
    app = ApplicationInput(
        application_code=code,
        matter_code="household-transfer",
        integrator_id="portal",
        applicant_kind="person",
        materials=materials,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-11-23T01:00:00+00:00",
    )
    handle = await harness.client.start_workflow(
        WORKFLOW_NAME, app, id=code, task_queue=harness.task_queue, result_type=ApplicationResult
    )
    await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.tasks,
        what="its task",
    )
    return handle


async def update(handle: WorkflowHandle, name: str, argument, result_type=TaskActionResult):
    return await handle.execute_update(name, argument, result_type=result_type)


def staff(name: str, department: str = "public-security", *roles: str) -> dict:
    return {"staff_id": name, "staff_department": department, "staff_roles": list(roles)}


async def failure_type(call) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    return caught.value.cause.type


async def close(handle: WorkflowHandle) -> None:
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()


async def test_claim_then_only_the_assignee_or_the_head_decides(harness, application_code):
    handle = await start(harness, application_code, HOUSEHOLD)
    claimed = await update(
        handle, "assign", AssignmentInput("public-security", "ps-1", **staff("ps-1"))
    )
    assert claimed.assignee == "ps-1"
    # A colleague can neither take it over nor decide it; a reviewer cannot assign others.
    assert (
        await failure_type(
            update(handle, "assign", AssignmentInput("public-security", "ps-2", **staff("ps-2")))
        )
        == "WrongReviewer"
    )
    assert (
        await failure_type(
            update(handle, "assign", AssignmentInput("public-security", "ps-3", **staff("ps-1")))
        )
        == "WrongReviewer"
    )
    other = DecisionInput("public-security", "approved", **staff("ps-2"))
    assert await failure_type(update(handle, "decide", other, DecisionResult)) == "WrongReviewer"
    # The head reassigns; the new assignee decides.
    head = staff("head-1", "public-security", "department_head")
    await update(handle, "assign", AssignmentInput("public-security", "ps-2", **head))
    decided = await update(handle, "decide", other, DecisionResult)
    assert decided.task_state == "approved"
    assigned = harness.producer.messages("TaskAssigned")
    assert [(a.assignee, a.actor.id) for a in assigned] == [("ps-1", "ps-1"), ("ps-2", "head-1")]
    assert (await handle.result()).state == "completed"


async def test_special_procedure_stops_the_clock(
    harness, application_code, time_skipping_env, record_history
):
    handle = await start(harness, application_code, HOUSEHOLD)
    due_before = (await handle.query("snapshot", result_type=ApplicationSnapshot)).tasks[0].due_at
    inspection = SpecialProcedureInput(
        "public-security", kind="on_site_inspection", note="现场核查住所", **staff("ps-1")
    )
    started = await update(handle, "start_special_procedure", inspection)
    assert started.paused is True
    assert started.special_procedure == "on_site_inspection"
    # No decision while the procedure is under way, and no second procedure.
    approve = DecisionInput("public-security", "approved", **staff("ps-1"))
    assert await failure_type(update(handle, "decide", approve, DecisionResult)) == (
        "SpecialProcedure"
    )
    assert await failure_type(update(handle, "start_special_procedure", inspection)) == (
        "SpecialProcedure"
    )
    # Past the original deadline: no alert, the clock is stopped.
    await time_skipping_env.sleep(timedelta(days=14))
    assert harness.producer.messages("SupervisionAlert") == []

    ended = await update(handle, "end_special_procedure", inspection)
    assert ended.paused is False

    async def first_task() -> TaskSnapshot:
        return (await handle.query("snapshot", result_type=ApplicationSnapshot)).tasks[0]

    task = await eventually(
        first_task,
        lambda task: task.due_at != due_before,
        within=10.0,
        interval=0.05,
        what="the task's moved deadline",
    )
    assert task.due_at > due_before  # moved by the days the inspection took
    kinds = [m.kind for m in harness.producer.messages("SpecialProcedureEnded")]
    assert kinds == ["on_site_inspection"]
    assert harness.producer.messages("SpecialProcedureStarted")[0].clock.paused is True
    await close(handle)
    await record_history(handle, "special-procedure-then-withdrawn")


async def test_deficiency_not_provided_in_time_refuses(harness, application_code, record_history):
    handle = await start(harness, application_code, HOUSEHOLD[:-1])  # no household register
    await update(
        handle,
        "decide",
        DecisionInput("public-security", "approved", **staff("ps-1")),
        DecisionResult,
    )
    outcome = await handle.result()  # the 20-day deficiency deadline passes
    await record_history(handle, "refused-deficiency-deadline")
    assert outcome.state == "refused"
    last = harness.producer.messages("ApplicationAccepted")[-1]
    assert last.outcome == approval_pb2.ACCEPTANCE_OUTCOME_REFUSED
    assert list(last.missing_materials) == ["household-register"]
    assert "ApplicationCompleted" not in harness.producer.types()


async def test_deficiency_provided_in_time_completes(harness, application_code):
    handle = await start(harness, application_code, HOUSEHOLD[:-1])
    await handle.signal("supplement", SupplementInput(["household-register"]))
    await update(
        handle,
        "decide",
        DecisionInput("public-security", "approved", **staff("ps-1")),
        DecisionResult,
    )
    assert (await handle.result()).state == "completed"
    alerts = harness.producer.messages("SupervisionAlert")
    assert all(a.level != supervision_pb2.SUPERVISION_LEVEL_RED for a in alerts)


async def test_a_supplement_request_carries_its_list_and_the_supplement_resumes_the_clock(
    harness, application_code, record_history
):
    handle = await start(harness, application_code, HOUSEHOLD)
    request = DecisionInput(
        "public-security",
        "supplement_requested",
        reason="户口簿复印件不清晰 / the register copy is unreadable",
        missing_materials=["household-register", "housing-proof"],
        **staff("ps-1"),
    )
    assert (
        await failure_type(
            update(
                handle,
                "decide",
                DecisionInput(
                    "public-security",
                    "supplement_requested",
                    missing_materials=[" "],
                    **staff("ps-1"),
                ),
                DecisionResult,
            )
        )
        == "InvalidDecision"
    )
    await update(handle, "decide", request, DecisionResult)
    (asked,) = harness.producer.messages("TaskDecided")
    assert list(asked.missing_materials) == ["household-register", "housing-proof"]
    asked_at = asked.clock.started_at.ToDatetime()
    assert asked.supplement_due_at.ToDatetime() - asked_at >= timedelta(days=20)
    assert harness.producer.messages("ClocksResumed") == []

    await handle.signal("supplement", SupplementInput(["household-register", "housing-proof"]))
    (resumed,) = await eventually(
        lambda: _async(harness.producer.messages("ClocksResumed")), what="ClocksResumed"
    )
    assert list(resumed.department_codes) == ["public-security"]
    assert list(resumed.materials) == ["household-register", "housing-proof"]
    snap = await handle.query("snapshot", result_type=ApplicationSnapshot)
    assert snap.tasks[0].state == "open" and snap.tasks[0].paused is False
    await update(
        handle,
        "decide",
        DecisionInput("public-security", "approved", **staff("ps-1")),
        DecisionResult,
    )
    assert (await handle.result()).state == "completed"
    await record_history(handle, "supplement-list-then-resumed")


async def _async(value):
    return value
