"""Shared-data checks (数据共享 / 免证办) and auto-approval (秒批) in the workflow, with
the seeded base registry behind the real activity."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType

from onceonly.events.v1 import approval_pb2
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually
from onceonly.workflow.checks import RULES_VERSION, Check
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    AgentInput,
    ApplicationInput,
    ApplicationResult,
    ApplicationSnapshot,
    ConsentInput,
    ContactInput,
    WithdrawalInput,
)

# The same development key the harness's activities open with.
SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
GOOD_BORROWER = "330106198703152315"  # seeded: every housing-fund check passes
BLACKLISTED = "330105197911114339"  # seeded: credit fails


# The applicant consented to every check (授权), unless a test says otherwise.
EVERY_CONSENT = [ConsentInput(str(check), f"consent-{check}") for check in Check]


def application(
    code: str,
    matter: str,
    identifier: str,
    materials: list[str],
    form=None,
    consents: list[ConsentInput] | None = None,
    agent: AgentInput | None = None,
):
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
        consents=EVERY_CONSENT if consents is None else consents,
        agent=agent,
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
    # The whole application, e-licence included, in one workflow task: the licence is
    # issued by a local activity (LOCAL_ELICENCE_PATCH), not a regular one whose
    # completion needs a second workflow task.
    events = (await handle.fetch_history()).events
    kinds = [event.event_type for event in events]
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    # One patch marker (BASELINE_PATCH stands for every patch before it), not one per patch.
    markers = [e.marker_recorded_event_attributes.marker_name for e in events]
    assert markers.count("core_patch") == 1


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


# --- consent and provenance (授权与数据来源) -------------------------------------------


async def acceptances(harness) -> list[approval_pb2.ApplicationAccepted]:
    return harness.producer.messages("ApplicationAccepted")


async def activities_run(handle) -> str:
    """The payloads of the run's markers (local activities record their type there) and
    the types of its scheduled activities, as text to search."""
    history = await handle.fetch_history()
    found: list[str] = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payloads in event.marker_recorded_event_attributes.details.values():
                found.extend(p.data.decode(errors="replace") for p in payloads.payloads)
        if event.HasField("activity_task_scheduled_event_attributes"):
            found.append(event.activity_task_scheduled_event_attributes.activity_type.name)
    return "\n".join(found)


async def test_a_check_without_consent_is_not_run_and_its_paper_is_asked_for(
    harness, application_code, record_history
):
    # Consent to everything but the marriage check: it is not run, its certificate is
    # asked for, and the loan is not approved automatically even though the rest pass.
    consents = [c for c in EVERY_CONSENT if c.purpose != "marriage"]
    handle = await start(
        harness,
        application(
            application_code,
            "housing-fund-loan",
            GOOD_BORROWER,
            ["loan-application"],
            consents=consents,
        ),
    )
    accepted = await eventually(lambda: acceptances(harness), what="the acceptance")
    first = accepted[0]
    assert first.outcome == approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED
    assert list(first.missing_materials) == ["marriage-certificate"]
    assert list(first.checks_without_consent) == ["marriage"]
    assert "marriage" not in [c.check for c in first.checks]
    assert all(c.passed for c in first.checks)
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()
    await record_history(handle, "check-without-consent")


async def test_without_any_consent_no_registry_is_asked(harness, application_code):
    handle = await start(
        harness,
        application(
            application_code,
            "housing-fund-loan",
            GOOD_BORROWER,
            ["loan-application", "resident-id", "marriage-certificate"],
            consents=[],
        ),
    )
    accepted = await eventually(lambda: acceptances(harness), what="the acceptance")
    assert list(accepted[0].checks) == []
    assert list(accepted[0].checks_without_consent) == [
        "population",
        "marriage",
        "real-estate",
        "social-insurance",
        "credit",
    ]
    assert set(accepted[0].missing_materials) == {"purchase-contract", "income-proof"}
    await handle.signal("withdraw", WithdrawalInput("test over"))
    await handle.result()
    # No shared-data check ran: no local activity (marker) names it.
    assert "run_shared_data_checks" not in await activities_run(handle)


async def test_each_check_records_its_provenance_and_the_auto_approval_its_rules(
    harness, application_code
):
    agent = AgentInput(
        name_masked="李*",
        identifier_masked="1101**************",
        mobile_masked="1391234****",
        relation="service_centre",
        scope=["submit", "supplement"],
        valid_from="2026-11-01",
        valid_until="2026-12-31",
        given_by="recorded_consent",
        consent_reference="kiosk-7",
    )
    handle = await start(
        harness,
        application(
            application_code,
            "housing-fund-loan",
            GOOD_BORROWER,
            ["loan-application"],
            agent=agent,
        ),
    )
    outcome = await handle.result()
    assert outcome.state == "completed"
    assert "run_shared_data_checks" in await activities_run(handle)
    accepted = harness.producer.messages("ApplicationAccepted")[0]
    assert accepted.auto_approved is True
    # The decision can be explained from the record alone: which rules, which facts.
    assert accepted.rule_version == RULES_VERSION
    assert list(accepted.checks_without_consent) == []
    registries = {c.check: c.registry for c in accepted.checks}
    assert registries == {
        "population": "population",
        "marriage": "population",
        "real-estate": "real-estate",
        "social-insurance": "social-insurance",
        "credit": "credit",
    }
    for check in accepted.checks:
        assert check.HasField("checked_at")
        assert check.code == "confirmed"
        assert check.consent_reference == f"consent-{check.check}"
        assert check.record_reference
    # A property is named by its certificate; a person by the registry's opaque key.
    estate = next(c for c in accepted.checks if c.check == "real-estate")
    assert not estate.record_reference.startswith("real-estate/")
    person = next(c for c in accepted.checks if c.check == "population")
    assert person.record_reference.startswith("population/")
    assert GOOD_BORROWER not in str(accepted)
    # Departments see the agent (masked) and the lookups on the application.
    snap = await handle.query("snapshot", result_type=ApplicationSnapshot)
    assert snap.agent == agent
    assert snap.rule_version == RULES_VERSION
    assert [c.check for c in snap.checks] == [c.check for c in accepted.checks]
