"""The legal limit (法定时限) and the special procedures' maximum length under
e-supervision, on the time-skipping server: a construction joint approval (committed 25,
legal 30 working days; fire committed 10, legal 15) across the fictional holiday week of
test_holiday."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from onceonly.events.v1 import supervision_pb2
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    DecisionInput,
    ExtensionDecisionInput,
    ExtensionRequestInput,
    SpecialProcedureInput,
    SupplementInput,
    WithdrawalInput,
)
from onceonly.workflow.workflows import JointApproval
from services.workflow.tests.workflows.construction import Run, noon, staff

RED = supervision_pb2.SUPERVISION_LEVEL_RED
LEGAL = supervision_pb2.SUPERVISION_LEVEL_LEGAL


def raised(alert) -> datetime:
    return alert.raised_at.ToDatetime().replace(tzinfo=UTC)


async def test_the_legal_alert_comes_exactly_at_the_legal_deadline(run: Run, record_history):
    fire = await run.task("fire")
    committed = run.end_of(run.calendar.add_working_days(run.accepted_on, 10).due)
    legal = run.end_of(run.calendar.add_working_days(run.accepted_on, 15).due)
    assert datetime.fromisoformat(fire.due_at) == committed

    # Between the committed and the legal deadline: red (and its reminders), no legal.
    await run.sleep_until(legal - timedelta(hours=1))
    (red,) = await run.alerts("fire", RED, 1)
    assert abs(raised(red) - committed) <= timedelta(seconds=1)
    assert red.legal_due_at.ToDatetime().replace(tzinfo=UTC) == legal
    assert await run.alerts("fire", LEGAL, 0) == []

    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL, 1)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)
    assert alert.seconds_left < 0  # still measured against the committed deadline
    assert (await run.task("fire")).supervision_level == "legal"
    # Every clock has its own legal limit: development-reform's 7 days passed long ago.
    (reform,) = await run.alerts("development-reform", LEGAL, 1)
    expected = run.end_of(run.calendar.add_working_days(run.accepted_on, 7).due)
    assert abs(raised(reform) - expected) <= timedelta(seconds=1)
    await run.handle.signal(JointApproval.withdraw, WithdrawalInput("test over"))
    await run.handle.result()
    await record_history(run.handle, "legal-limit-alerted")


async def test_an_approved_extension_moves_the_legal_deadline(run: Run) -> None:
    await run.handle.execute_update(
        JointApproval.request_extension,
        ExtensionRequestInput("fire", 10, "需专家论证 / expert review needed", **staff("fire")),
    )
    await run.handle.execute_update(
        JointApproval.decide_extension,
        ExtensionDecisionInput("fire", True, **staff("fire", "department_head")),
    )
    old_legal_day = run.calendar.add_working_days(run.accepted_on, 15).due
    legal = run.end_of(run.calendar.add_working_days(old_legal_day, 10).due)

    await run.sleep_until(run.end_of(old_legal_day) + timedelta(hours=1))
    # Civil air defence was not extended: its own legal limit (10) alerted on time; fire's
    # old legal deadline, later still, alerted nothing.
    assert len(await run.alerts("civil-air-defence", LEGAL, 1)) == 1
    assert await run.alerts("fire", LEGAL, 0) == []

    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL, 1)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)


async def test_a_supplement_pause_moves_the_legal_deadline_by_its_working_days(run: Run):
    fire = await run.task("fire")
    legal_day = run.calendar.add_working_days(run.accepted_on, 15).due
    # Fire asks for a supplement on its 2nd working day; it arrives 5 working days later.
    asked_on = run.calendar.add_working_days(run.accepted_on, 2).due
    await run.sleep_until(noon(asked_on))
    await run.handle.execute_update(
        JointApproval.decide,
        DecisionInput(
            "fire", "supplement_requested", "fire-1", "fire", missing_materials=["fire-design"]
        ),
    )
    resumed_on = run.calendar.add_working_days(asked_on, 5).due
    await run.sleep_until(noon(resumed_on))
    await run.handle.signal(JointApproval.supplement, SupplementInput(["fire-design"]))
    await eventually(
        lambda: run.task("fire"), lambda t: t.due_at != fire.due_at, what="the moved deadline"
    )
    shift = run.calendar.working_days_between(asked_on, resumed_on)
    legal = run.end_of(run.calendar.add_working_days(legal_day, shift).due)

    await run.sleep_until(run.end_of(legal_day) + timedelta(hours=1))
    assert await run.alerts("fire", LEGAL, 0) == []
    await run.sleep_until(legal + timedelta(hours=1))
    (alert,) = await run.alerts("fire", LEGAL, 1)
    assert abs(raised(alert) - legal) <= timedelta(seconds=1)


async def test_a_special_procedure_past_its_maximum_alerts_once(run: Run) -> None:
    # The construction matter allows an on-site inspection 5 working days, an expert
    # review 15 (matters.yaml).
    inspection = SpecialProcedureInput("fire", kind="on_site_inspection", **staff("fire"))
    review = SpecialProcedureInput(
        "housing-construction", kind="expert_review", **staff("housing-construction")
    )
    await run.handle.execute_update(JointApproval.start_special_procedure, inspection)
    await run.handle.execute_update(JointApproval.start_special_procedure, review)
    started_on = run.accepted_on  # both start on the day of acceptance
    inspection_due = run.end_of(run.calendar.add_working_days(started_on, 5).due)

    # The expert review ends in time (on its third working day): it never alerts.
    await run.sleep_until(run.end_of(run.calendar.add_working_days(started_on, 3).due))
    await run.handle.execute_update(JointApproval.end_special_procedure, review)

    await run.sleep_until(inspection_due + timedelta(hours=1))
    overruns = await eventually(
        lambda: asyncio.sleep(0, run.events("SpecialProcedureOverrun")),
        lambda found: len(found) >= 1,
        within=10.0,
        what="the inspection's overrun",
    )
    (overrun,) = overruns
    assert (overrun.department_code, overrun.kind, overrun.max_days) == (
        "fire",
        "on_site_inspection",
        5,
    )
    assert overrun.due_at.ToDatetime().replace(tzinfo=UTC) == inspection_due
    assert abs(raised(overrun) - inspection_due) <= timedelta(seconds=1)
    assert (await run.task("fire")).paused is True  # the clock still stands still

    # Long after both maxima: still the one alert, none for the review that ended. Ending
    # the inspection then publishes its end after anything the timers published before.
    await run.sleep_until(run.end_of(run.calendar.add_working_days(started_on, 25).due))
    await run.handle.execute_update(JointApproval.end_special_procedure, inspection)
    await eventually(
        lambda: asyncio.sleep(0, run.events("SpecialProcedureEnded")),
        lambda ended: len(ended) == 2,
        within=10.0,
        what="the inspection's end",
    )
    assert [o.department_code for o in run.events("SpecialProcedureOverrun")] == ["fire"]
