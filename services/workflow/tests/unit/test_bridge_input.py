"""The bridge's ApplicationInput: an agent arrives masked only, consents by purpose."""

from __future__ import annotations

from onceonly.events.v1 import application_pb2
from onceonly.workflow.bridge import application_input
from onceonly.workflow.shared import AgentInput, ConsentInput


def submitted(**extra: object) -> application_pb2.ApplicationSubmitted:
    event = application_pb2.ApplicationSubmitted(
        application_code="330100-20261205-0000017",
        matter_code="household-transfer",
        integrator_id="portal",
        applicant=application_pb2.Applicant(kind=application_pb2.APPLICANT_KIND_PERSON),
        **extra,  # type: ignore[arg-type]
    )
    event.submitted_at.FromJsonString("2026-12-05T01:00:00Z")
    return event


def test_an_agent_and_consents_reach_the_workflow_masked() -> None:
    agent = application_pb2.Agent(
        name=application_pb2.SealedText(sealed="k1:secret-name", masked="李**"),
        identifier=application_pb2.SealedText(sealed="k1:secret-id", masked="1101**************"),
        mobile=application_pb2.SealedText(sealed="k1:secret-mobile", masked="1391234****"),
        relation="relative",
        authorisation=application_pb2.Authorisation(
            scope=["submit", "withdraw"],
            valid_from="2026-12-01",
            valid_until="2026-12-31",
            given_by="signed_letter",
            letter_reference="upload:6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f",
        ),
    )
    consent = application_pb2.Consent(purpose="population", reference="c-1")
    consent.given_at.FromJsonString("2026-12-05T00:59:00Z")
    app = application_input(submitted(agent=agent, consents=[consent]))

    assert app.agent == AgentInput(
        name_masked="李**",
        identifier_masked="1101**************",
        mobile_masked="1391234****",
        relation="relative",
        scope=["submit", "withdraw"],
        valid_from="2026-12-01",
        valid_until="2026-12-31",
        given_by="signed_letter",
        letter_reference="upload:6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f",
    )
    assert "secret" not in repr(app)
    assert app.consents == [ConsentInput("population", "c-1", "2026-12-05T00:59:00Z")]


def test_a_submission_of_the_applicant_themselves_has_no_agent() -> None:
    app = application_input(submitted())
    assert app.agent is None
    assert app.consents == []
