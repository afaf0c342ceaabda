"""Shared-data checks (数据共享 / 免证办) and auto-approval (秒批) in the workflow, with
the seeded base registry behind the real activity."""

from __future__ import annotations

import json

from onceonly.events.v1 import approval_pb2
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    ContactInput,
    WithdrawalInput,
)

# The same development key the harness's activities open with.
SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
GOOD_BORROWER = "330106198703152315"  # seeded: every housing-fund check passes
BLACKLISTED = "330105197911114339"  # seeded: credit fails


def application(code: str, matter: str, identifier: str, materials: list[str], form=None):
    return ApplicationInput(
        application_code=code,
        matter_code=matter,
        integrator_id="portal",
        applicant_kind="person",
        materials=materials,
        contact=ContactInput(mobile_sealed="k:sealed", mobile_masked="1381234****"),
        submitted_at="2026-11-23T01:00:00+00:00",
        identifier_sealed=SEALER.seal(identifier, context=f"{code}:identifier"),
        form_json=json.dumps(form or {}),
    )


async def start(harness, app: ApplicationInput):
    return await harness.client.start_workflow(
        WORKFLOW_NAME,
        app,
        id=app.application_code,
        task_queue=harness.task_queue,
        result_type=ApplicationResult,
    )


async def test_loan_is_approved_automatically_when_every_check_passes(
    harness, application_code, record_history
):
    handle = await start(
        harness,
        application(application_code, "housing-fund-loan", GOOD_BORROWER, ["loan-application"]),
    )
    outcome = await handle.result()
    await record_history(handle, "auto-approved-housing-fund-loan")

    assert outcome.state == "completed"
    assert harness.producer.types() == [
        "ApplicationAccepted",
        "TaskStarted",
        "TaskDecided",
        "ApplicationCompleted",
    ]
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.auto_approved is True
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
    assert [c.check for c in accepted.checks] == [
        "population",
        "marriage",
        "real-estate",
        "social-insurance",
        "credit",
    ]
    assert all(c.passed for c in accepted.checks)
    decided = harness.producer.messages("TaskDecided")[0]
    assert decided.actor.id == "auto-approval"
    completed = harness.producer.messages("ApplicationCompleted")[0]
    assert completed.elicence_number == f"EL-{application_code}"
    assert completed.elicence_holder_masked == "3301**************"
    # A loan approval is valid for 180 days from issue.
    valid = completed.elicence_valid_until.ToDatetime() - completed.clock.started_at.ToDatetime()
    assert 179 <= valid.days <= 181
    assert decided.outcome == approval_pb2.DECISION_OUTCOME_APPROVED
    # Nothing personal in what the checks say.
    assert GOOD_BORROWER not in str(accepted)


async def test_a_failed_check_leaves_the_decision_to_people(harness, application_code):
    materials = [
        "loan-application",
        "resident-id",
        "marriage-certificate",
        "purchase-contract",
        "income-proof",
    ]
    handle = await start(
        harness, application(application_code, "housing-fund-loan", BLACKLISTED, materials)
    )
    snap = await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.tasks,
        what="the tasks",
    )
    assert snap.state == "in_approval"
    assert snap.tasks[0].state == "open"
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.auto_approved is False
    failed = [c.check for c in accepted.checks if not c.passed]
    assert failed == ["credit"]
    assert "TaskDecided" not in harness.producer.types()
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()


async def test_passed_checks_replace_paper_and_failed_ones_ask_for_it(harness, application_code):
    # Household transfer into 西湖区, where the seeded applicant owns a flat: the ID card
    # and the proof of residence come from the registries (免证办).
    form = {"to_district": "西湖区"}
    handle = await start(
        harness,
        application(
            application_code,
            "household-transfer",
            GOOD_BORROWER,
            ["transfer-application", "household-register"],
            form,
        ),
    )
    snap = await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.tasks,
        what="the tasks",
    )
    assert snap.state == "in_approval"
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.outcome == approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()

    # Into 滨江区, where they own nothing: the proof of residence is asked for.
    other = application_code[:-1] + "Y"
    handle = await start(
        harness,
        application(
            other,
            "household-transfer",
            GOOD_BORROWER,
            ["transfer-application", "household-register"],
            {"to_district": "滨江区"},
        ),
    )
    snap = await eventually(
        lambda: handle.query("snapshot", result_type=ApplicationSnapshot),
        lambda snap: snap.state == "awaiting_supplement",
        what="the supplement request",
    )
    assert snap.missing_materials == ["housing-proof"]
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()
