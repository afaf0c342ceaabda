"""Agents (帮代办): the authorisation rule (scope and validity) and the validation of an
agent and of consents in a submission."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import approval_pb2
from onceonly.intake.agents import (
    Act,
    AgentDraft,
    Authorisation,
    GivenBy,
    Relation,
    authorise,
    validate_agent,
)
from onceonly.intake.errors import AgentNotAuthorised, SubmissionInvalid
from onceonly.intake.events import application_submitted, seal_personal_data
from onceonly.intake.lookups import lookups_of
from onceonly.intake.schemas import AgentView
from onceonly.intake.submission import (
    Consent,
    MaterialReference,
    SubmissionDraft,
    validate_submission,
)
from onceonly.platform.pii import PiiError, PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

TODAY = date(2026, 12, 5)
APPLICANT = "11010519491231002X"
AGENT_ID = "110101198505124564"
AUTHORISATION = Authorisation(
    scope=(Act.SUBMIT, Act.SUPPLEMENT),
    valid_from=date(2026, 12, 1),
    valid_until=date(2026, 12, 31),
    given_by=GivenBy.RECORDED_CONSENT,
    consent_reference="kiosk-consent-42",
)
DRAFT = AgentDraft(
    name=" 李四 ",
    identifier="110101198505124564",
    mobile="13912345678",
    relation="service_centre",
    organisation="西湖区政务服务中心",
    scope=("submit", "supplement", "receive_notifications"),
    valid_from=date(2026, 12, 1),
    valid_until=date(2026, 12, 31),
    given_by="recorded_consent",
    consent_reference="kiosk-consent-42",
)


# --- authorise: scope and validity ------------------------------------------------


def test_an_act_inside_the_scope_and_validity_is_authorised() -> None:
    authorise(AUTHORISATION, Act.SUPPLEMENT, today=TODAY)
    # Both ends of the validity are inclusive.
    authorise(AUTHORISATION, Act.SUPPLEMENT, today=date(2026, 12, 1))
    authorise(AUTHORISATION, Act.SUPPLEMENT, today=date(2026, 12, 31))


def test_an_act_outside_the_scope_is_refused_naming_the_scope() -> None:
    with pytest.raises(AgentNotAuthorised) as refused:
        authorise(AUTHORISATION, Act.WITHDRAW, today=TODAY)
    assert refused.value.code == "outside_scope"
    assert "withdraw" in refused.value.message_en
    assert "submit, supplement" in refused.value.message_en


def test_an_act_before_the_validity_is_refused() -> None:
    with pytest.raises(AgentNotAuthorised) as refused:
        authorise(AUTHORISATION, Act.SUPPLEMENT, today=date(2026, 11, 30))
    assert refused.value.code == "not_yet_valid"


def test_an_act_after_the_validity_is_refused() -> None:
    with pytest.raises(AgentNotAuthorised) as refused:
        authorise(AUTHORISATION, Act.SUPPLEMENT, today=date(2027, 1, 1))
    assert refused.value.code == "expired"
    assert "2026-12-31" in refused.value.message_en


def test_no_agent_may_act_on_an_application_submitted_without_one() -> None:
    with pytest.raises(AgentNotAuthorised) as refused:
        authorise(None, Act.SUPPLEMENT, today=TODAY)
    assert refused.value.code == "no_agent"


def test_the_authorisation_survives_its_stored_form() -> None:
    assert Authorisation.from_json(AUTHORISATION.as_json()) == AUTHORISATION


# --- validate_agent ---------------------------------------------------------------


def issues(draft: AgentDraft, today: date = TODAY) -> dict[str, str]:
    agent, found = validate_agent(draft, today=today, applicant_identifier=APPLICANT)
    assert agent is None
    for issue in found:
        assert issue.message_en and issue.message_zh
    return {issue.field: issue.code for issue in found}


def test_a_valid_agent_is_normalised() -> None:
    agent, found = validate_agent(DRAFT, today=TODAY, applicant_identifier=APPLICANT)
    assert found == []
    assert agent is not None
    assert agent.name == "李四"
    assert agent.identifier == AGENT_ID
    assert agent.relation is Relation.SERVICE_CENTRE
    assert agent.authorisation.scope == (Act.SUBMIT, Act.SUPPLEMENT, Act.RECEIVE_NOTIFICATIONS)
    assert agent.authorisation.consent_reference == "kiosk-consent-42"


def test_every_bad_field_of_an_agent_is_named() -> None:
    bad = replace(
        DRAFT,
        name=" ",
        identifier="110101198505124565",  # wrong check digit
        mobile="1234",
        relation="neighbour",
        scope=("submit", "sell"),
        given_by="telepathy",
    )
    assert issues(bad) == {
        "agent.name": "empty",
        "agent.identifier": "check_digit",
        "agent.mobile": issues(replace(DRAFT, mobile="1234"))["agent.mobile"],
        "agent.relation": "unknown_relation",
        "agent.authorisation.scope.1": "unknown_act",
        "agent.authorisation.given_by": "unknown_form",
    }


def test_an_agent_needs_the_submit_act_to_submit() -> None:
    assert issues(replace(DRAFT, scope=("supplement",))) == {
        "agent.authorisation.scope": "submit_not_authorised"
    }


def test_an_authorisation_must_cover_today() -> None:
    assert issues(DRAFT, today=date(2026, 11, 30)) == {
        "agent.authorisation.valid_from": "not_yet_valid"
    }
    assert issues(DRAFT, today=date(2027, 1, 1)) == {"agent.authorisation.valid_until": "expired"}
    backwards = replace(DRAFT, valid_until=date(2026, 11, 1))
    assert issues(backwards) == {"agent.authorisation.valid_until": "before_start"}
    forever = replace(DRAFT, valid_from=date(2026, 1, 1), valid_until=date(2027, 6, 1))
    assert issues(forever) == {"agent.authorisation.valid_until": "too_long"}


def test_how_the_authorisation_was_given_needs_its_evidence() -> None:
    letter = replace(DRAFT, given_by="signed_letter", letter_reference="doc://somewhere")
    assert issues(letter) == {"agent.authorisation.letter_reference": "letter_required"}
    consent = replace(DRAFT, consent_reference=" ")
    assert issues(consent) == {
        "agent.authorisation.consent_reference": "consent_reference_required"
    }


def test_the_applicant_is_not_their_own_agent() -> None:
    assert issues(replace(DRAFT, identifier=APPLICANT.lower())) == {
        "agent.identifier": "same_as_applicant"
    }


# --- in a submission --------------------------------------------------------------

SUBMISSION = SubmissionDraft(
    matter_code="household-transfer",
    applicant_kind="person",
    applicant_name="张三",
    applicant_identifier=APPLICANT,
    mobile="13812345678",
    materials=(MaterialReference("transfer-application", "doc://1"),),
    agent=DRAFT,
    consents=(Consent("population", "consent-1"), Consent("real-estate", "consent-2")),
)


def test_a_submission_carries_its_agent_and_consents() -> None:
    submission = validate_submission(SUBMISSION, default_catalogue(), today=TODAY)
    assert submission.agent is not None and submission.agent.identifier == AGENT_ID
    assert [c.purpose for c in submission.consents] == ["population", "real-estate"]


def test_a_consent_names_one_of_the_matters_checks_once() -> None:
    draft = replace(
        SUBMISSION,
        consents=(
            Consent("population", "consent-1"),
            Consent("credit", "consent-2"),  # not a check of household-transfer
            Consent("population", "consent-3"),
            Consent("real-estate", " "),
        ),
    )
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(draft, default_catalogue(), today=TODAY)
    assert {i.field: i.code for i in raised.value.issues} == {
        "consents.1.purpose": "unknown_purpose",
        "consents.2.purpose": "duplicate",
        "consents.3.reference": "empty",
    }


def test_an_agent_problem_is_reported_with_the_applicants() -> None:
    draft = replace(SUBMISSION, mobile="1", agent=replace(DRAFT, relation="x"))
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(draft, default_catalogue(), today=TODAY)
    fields = {i.field for i in raised.value.issues}
    assert {"contact.mobile", "agent.relation"} <= fields


# --- sealed in the event, masked in the record --------------------------------------


def test_the_agent_travels_sealed_and_masked_with_the_consents() -> None:
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    code = "330100-20261205-0000017"
    submission = validate_submission(SUBMISSION, default_catalogue(), today=TODAY)
    sealed = seal_personal_data(sealer, submission, application_code=code)
    at = datetime(2026, 12, 5, 1, 2, 3, tzinfo=UTC)
    event = application_submitted(
        submission, sealed, application_code=code, integrator_id="portal", submitted_at=at
    )
    wire = event.SerializeToString()
    for secret in ("李四", AGENT_ID, "13912345678"):
        assert secret.encode() not in wire
    assert event.agent.name.masked == "李**"
    assert event.agent.identifier.masked == "1101**************"
    assert event.agent.mobile.masked == "1391234****"
    # Sealed to this application and field: the applicant's context does not open it.
    assert sealer.open(event.agent.mobile.sealed, context=f"{code}:agent:mobile") == "13912345678"
    with pytest.raises(PiiError):
        sealer.open(event.agent.mobile.sealed, context=f"{code}:mobile")
    assert list(event.agent.authorisation.scope) == [
        "submit",
        "supplement",
        "receive_notifications",
    ]
    assert event.agent.authorisation.valid_until == "2026-12-31"
    assert event.agent.authorisation.given_by == "recorded_consent"
    assert [(c.purpose, c.reference) for c in event.consents] == [
        ("population", "consent-1"),
        ("real-estate", "consent-2"),
    ]
    assert event.consents[0].given_at.ToDatetime(tzinfo=UTC) == at
    stored = sealed.agent.stored() if sealed.agent else {}
    assert "李四" not in json.dumps(stored, ensure_ascii=False)
    assert AgentView.of(stored) is not None


def test_an_application_without_an_agent_carries_none() -> None:
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    submission = validate_submission(
        replace(SUBMISSION, agent=None, consents=()), default_catalogue(), today=TODAY
    )
    sealed = seal_personal_data(sealer, submission, application_code="330100-20261205-0000018")
    event = application_submitted(
        submission,
        sealed,
        application_code="330100-20261205-0000018",
        integrator_id="portal",
        submitted_at=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert not event.HasField("agent")
    assert sealed.agent is None


# --- lookups from the workflow's events --------------------------------------------


def test_lookups_are_read_from_an_acceptance_with_provenance_only() -> None:
    checked = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
    accepted = approval_pb2.ApplicationAccepted(
        application_code="330100-20261205-0000017",
        checks=[
            approval_pb2.CheckOutcome(
                check="population",
                passed=True,
                reason="identity confirmed by the population registry",
                reason_zh="身份信息已核验",
                registry="population",
                record_reference="population/0123456789abcdef",
                code="confirmed",
                consent_reference="consent-1",
            ),
            # From before consent and provenance: no time, nothing to show.
            approval_pb2.CheckOutcome(check="real-estate", passed=False, reason="no property"),
        ],
        checks_without_consent=["marriage"],
    )
    accepted.checks[0].checked_at.FromDatetime(checked)
    found = lookups_of(accepted)
    assert found is not None
    assert found.not_consented == ("marriage",)
    assert [(x.check, x.registry, x.checked_at, x.passed) for x in found.lookups] == [
        ("population", "population", checked, True)
    ]
    assert lookups_of(approval_pb2.TaskStarted(application_code="x")) is None
