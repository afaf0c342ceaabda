"""The lead department's returns, added or removed departments and joint on-site
inspections, and extensions, on
the time-skipping server: a construction joint approval across a holiday week (the
fictional calendar of test_holiday), whose lead is natural-resources."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.catalogue.model import DayKind
from onceonly.events.v1 import approval_pb2, supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.case_clocks import case_code
from onceonly.workflow.shared import (
    DecisionInput,
    DepartmentChangeInput,
    ExtensionDecisionInput,
    ExtensionRequestInput,
    JointInspectionInput,
    ReturnInput,
    SpecialProcedureInput,
    WithdrawalInput,
)
from onceonly.workflow.workflows import JointApproval
from services.workflow.tests.workflows.construction import Run, local, noon, staff

LEAD = "natural-resources"
RED = supervision_pb2.SUPERVISION_LEVEL_RED


async def approve(run: Run, department: str) -> None:
    await run.handle.execute_update(
        JointApproval.decide,
        DecisionInput(department, "approved", f"{department}-1", department),
    )


async def refused(call) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await call
    return caught.value.cause.type


async def test_a_returned_opinion_continues_its_clock_from_the_time_spent(run: Run) -> None:
    fire = await run.task("fire")
    accepted = datetime.fromisoformat(fire.started_at)
    # Fire decides on the 4th working day, the lead returns it on the 7th.
    decided_on = run.calendar.add_working_days(local(accepted), 4).due
    await run.sleep_until(noon(decided_on))
    await approve(run, "fire")
    returned_on = run.calendar.add_working_days(decided_on, 3).due
    await run.sleep_until(noon(returned_on))
    result = await run.handle.execute_update(
        JointApproval.return_decision,
        ReturnInput("fire", "消防通道宽度不足 / fire lane too narrow", **staff(LEAD)),
    )
    assert result.task_state == "open"
    (returned,) = run.events("TaskReturned")
    assert returned.department_code == "fire" and returned.actor.department_code == LEAD
    assert returned.previous_outcome == approval_pb2.DECISION_OUTCOME_APPROVED

    # The clock continues at 4 spent: 6 of its 10 working days are left from the return.
    expected_due = run.calendar.add_working_days(returned_on, 6).due
    moved = await eventually(
        lambda: run.task("fire"), lambda t: local(t.due_at) != local(fire.due_at), what="move"
    )
    assert local(moved.due_at) == expected_due
    await run.sleep_until(datetime.fromisoformat(moved.due_at) + timedelta(hours=1))
    (red,) = await run.alerts("fire", RED, 1)
    assert local(red.raised_at.ToDatetime().replace(tzinfo=CHINA_STANDARD_TIME)) in (
        expected_due,
        expected_due + timedelta(days=1),
    )


async def test_two_concurrent_returns_reopen_the_task_once(run: Run) -> None:
    await approve(run, "fire")
    request = ReturnInput("fire", "please check again", **staff(LEAD))
    results = await asyncio.gather(
        run.handle.execute_update(JointApproval.return_decision, request),
        run.handle.execute_update(JointApproval.return_decision, request),
        return_exceptions=True,
    )
    opened = [r for r in results if not isinstance(r, BaseException)]
    assert opened and all(r.task_state == "open" for r in opened)
    assert len(run.events("TaskReturned")) == 1
    assert (await run.task("fire")).state == "open"


async def test_an_approved_extension_moves_the_red_alert_by_its_days(run: Run) -> None:
    fire = await run.task("fire")
    await run.handle.execute_update(
        JointApproval.request_extension,
        ExtensionRequestInput("fire", 10, "需专家论证 / expert review needed", **staff("fire")),
    )
    await run.handle.execute_update(
        JointApproval.request_extension,
        ExtensionRequestInput("civil-air-defence", 5, "more time", **staff("civil-air-defence")),
    )
    head = staff("fire", "department_head", name="fire-head")
    await run.handle.execute_update(
        JointApproval.decide_extension, ExtensionDecisionInput("fire", True, **head, note="ok")
    )
    cad = await run.task("civil-air-defence")
    await run.handle.execute_update(
        JointApproval.decide_extension,
        ExtensionDecisionInput(
            "civil-air-defence", False, **staff("civil-air-defence", "department_head")
        ),
    )
    decided = run.events("ExtensionDecided")
    assert [(e.department_code, e.approved, e.days) for e in decided] == [
        ("fire", True, 10),
        ("civil-air-defence", False, 5),
    ]
    assert decided[0].HasField("contact") and not decided[1].HasField("contact")
    assert decided[0].extended_days_total == 10

    extended = await run.task("fire")
    assert extended.extended_days == 10
    assert local(extended.due_at) == run.calendar.add_working_days(local(fire.due_at), 10).due
    assert (await run.task("civil-air-defence")).due_at == cad.due_at  # refused: unchanged

    # Past the old deadline: no red for fire; civil air defence (refused) is red on time.
    await run.sleep_until(datetime.fromisoformat(fire.due_at) + timedelta(hours=1))
    # Civil air defence's red (due earlier) is published: fire's would have been too.
    (refused,) = await run.alerts("civil-air-defence", RED, 1)
    assert refused.case_code == case_code(run.code, "civil-air-defence", 1)
    assert await run.alerts("fire", RED, 0) == []
    await run.sleep_until(datetime.fromisoformat(extended.due_at) + timedelta(hours=1))
    (red,) = await run.alerts("fire", RED, 1)
    assert red.case_code == case_code(run.code, "fire", 1)  # red at its extended deadline


async def test_an_added_department_is_red_at_its_own_deadline(run: Run) -> None:
    joined = await run.now() + timedelta(days=2)
    await run.sleep_until(joined)
    added = await run.handle.execute_update(
        JointApproval.add_department,
        DepartmentChangeInput(
            "market-regulation",
            "涉及经营许可 / a business licence is involved",
            **staff(LEAD, "department_head"),
            committed_days=3,
        ),
    )
    assert added.task_state == "open"
    (event,) = run.events("DepartmentAdded")
    task = await run.task("market-regulation")
    expected = run.calendar.deadline(local(task.started_at), 3, DayKind.WORKING).due
    assert (
        local(task.due_at)
        == expected
        == local(event.clock.due_at.ToDatetime(tzinfo=CHINA_STANDARD_TIME))
    )
    await run.sleep_until(datetime.fromisoformat(task.due_at) - timedelta(hours=2))
    assert await run.alerts("market-regulation", RED, 0) == []
    await run.sleep_until(datetime.fromisoformat(task.due_at) + timedelta(hours=1))
    assert len(await run.alerts("market-regulation", RED, 1)) == 1


async def test_a_removed_department_no_longer_holds_completion(run: Run) -> None:
    await run.handle.execute_update(
        JointApproval.remove_department,
        DepartmentChangeInput("civil-air-defence", "无人防工程 / no shelter", **staff(LEAD)),
    )
    (removed,) = run.events("DepartmentRemoved")
    assert removed.department_code == "civil-air-defence"
    for department in ("development-reform", "natural-resources", "housing-construction", "fire"):
        await approve(run, department)
    assert (await run.handle.result()).state == "completed"


async def test_invalid_operations_are_refused_and_change_nothing(run: Run) -> None:
    before = len(run.producer.messages("TaskReturned"))
    h = run.handle
    # Beyond the bound (15 days for joint handling), and a return by a non-lead.
    assert (
        await refused(
            h.execute_update(
                JointApproval.request_extension,
                ExtensionRequestInput("fire", 16, "r", **staff("fire")),
            )
        )
        == "InvalidDecision"
    )
    await approve(run, "fire")
    assert (
        await refused(
            h.execute_update(
                JointApproval.return_decision, ReturnInput("fire", "r", **staff("fire"))
            )
        )
        == "NotLeadDepartment"
    )
    assert (
        await refused(
            h.execute_update(JointApproval.return_decision, ReturnInput("fire", " ", **staff(LEAD)))
        )
        == "InvalidDecision"
    )
    # Adding a department already there; removing a decided one; an extension
    # decided by a reviewer; an extension decision with none asked.
    assert (
        await refused(
            h.execute_update(
                JointApproval.add_department, DepartmentChangeInput("tax-x", "r", **staff("fire"))
            )
        )
        == "NotLeadDepartment"
    )
    assert (
        await refused(
            h.execute_update(
                JointApproval.add_department, DepartmentChangeInput("fire", "r", **staff(LEAD))
            )
        )
        == "TaskExists"
    )
    assert (
        await refused(
            h.execute_update(
                JointApproval.remove_department, DepartmentChangeInput("fire", "r", **staff(LEAD))
            )
        )
        == "TaskNotOpen"
    )
    assert (
        await refused(
            h.execute_update(
                JointApproval.decide_extension,
                ExtensionDecisionInput(
                    "civil-air-defence", True, **staff("civil-air-defence", "department_head")
                ),
            )
        )
        == "Extension"
    )
    await h.execute_update(
        JointApproval.request_extension,
        ExtensionRequestInput("civil-air-defence", 3, "r", **staff("civil-air-defence")),
    )
    assert (
        await refused(
            h.execute_update(
                JointApproval.decide_extension,
                ExtensionDecisionInput("civil-air-defence", True, **staff("civil-air-defence")),
            )
        )
        == "WrongReviewer"
    )
    assert len(run.producer.messages("TaskReturned")) == before
    assert (await run.task("fire")).state == "approved"
    assert (await run.task("civil-air-defence")).extended_days == 0
    # Any operation on a withdrawn application.
    await h.signal(JointApproval.withdraw, WithdrawalInput("changed plans"))
    await h.result()
    with pytest.raises(RPCError):
        await h.execute_update(
            JointApproval.return_decision, ReturnInput("fire", "r", **staff(LEAD))
        )
    assert len(run.producer.messages("TaskReturned")) == before


INSPECTION = "工地现场, 12月8日9:00 / on site, 8 Dec 9:00"


def finding(department: str, note: str = "符合要求 / as designed") -> SpecialProcedureInput:
    return SpecialProcedureInput(department, **staff(department), note=note)


async def test_a_joint_inspection_excludes_its_days_from_each_attending_clock_only(
    run: Run, record_history
) -> None:
    attending, other = ["fire", "housing-construction"], "civil-air-defence"
    begin = run.calendar.add_working_days(local(await run.now()), 1).due
    await run.sleep_until(noon(begin))
    before = {d: await run.task(d) for d in [*attending, other]}
    started = await run.handle.execute_update(
        JointApproval.start_joint_inspection,
        JointInspectionInput(attending, INSPECTION, **staff(LEAD)),
    )
    assert started.department_codes == attending
    events = run.events("SpecialProcedureStarted")
    assert sorted(e.department_code for e in events) == sorted(attending)
    assert all(list(e.attending_departments) == attending for e in events)
    assert all(e.kind == "on_site_inspection" and e.clock.paused for e in events)
    assert all(e.actor.department_code == LEAD for e in events)
    # Under inspection a department does not decide; with no finding it does not end it.
    assert (
        await refused(
            run.handle.execute_update(
                JointApproval.decide, DecisionInput("fire", "approved", "fire-1", "fire")
            )
        )
        == "SpecialProcedure"
    )
    assert (
        await refused(
            run.handle.execute_update(JointApproval.end_special_procedure, finding("fire", " "))
        )
        == "InvalidDecision"
    )

    # Three working days on site; then each attending department records its finding.
    await run.sleep_until(noon(run.calendar.add_working_days(begin, 3).due))
    for department in attending:
        await run.handle.execute_update(JointApproval.end_special_procedure, finding(department))
    ended = run.events("SpecialProcedureEnded")
    assert sorted(e.department_code for e in ended) == sorted(attending)
    assert {e.note for e in ended} == {"符合要求 / as designed"}
    for department in attending:
        moved = await eventually(
            lambda d=department: run.task(d),
            lambda t, d=department: t.due_at != before[d].due_at,
            what=f"{department}'s deadline moved",
        )
        expected = run.calendar.add_working_days(local(before[department].due_at), 3).due
        assert local(moved.due_at) == expected, department
        assert not moved.paused and moved.special_procedure == ""
    assert (await run.task(other)).due_at == before[other].due_at
    await approve(run, "fire")  # decided normally after its finding
    await run.handle.signal(JointApproval.withdraw, WithdrawalInput("recorded"))
    await run.handle.result()
    await record_history(run.handle, "joint-inspection-then-withdrawn")


async def test_invalid_joint_inspections_are_refused(run: Run) -> None:
    h = run.handle

    async def inspection(departments: list[str], who: str = LEAD, note: str = INSPECTION) -> str:
        return await refused(
            h.execute_update(
                JointApproval.start_joint_inspection,
                JointInspectionInput(departments, note, **staff(who)),
            )
        )

    assert await inspection(["fire", "civil-air-defence"], who="fire") == "NotLeadDepartment"
    assert await inspection(["fire"]) == "InvalidDecision"
    assert await inspection(["fire", "fire"]) == "InvalidDecision"
    assert await inspection(["fire", "civil-air-defence"], note=" ") == "InvalidDecision"
    assert await inspection(["fire", "tax"]) == "UnknownTask"
    await approve(run, "fire")
    assert await inspection(["fire", "civil-air-defence"]) == "TaskNotOpen"
    assert run.events("SpecialProcedureStarted") == []
