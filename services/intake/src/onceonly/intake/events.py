"""The events intake publishes, with personal data sealed for the application."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue.forms import PersonalKind
from onceonly.events.v1 import application_pb2
from onceonly.intake.agents import Agent
from onceonly.intake.submission import ApplicantKind, Submission, json_copy
from onceonly.platform.canonical_json import canonical_json
from onceonly.platform.pii import (
    PiiSealer,
    form_field_context,
    mask_identifier,
    mask_mobile,
    mask_name,
)

_MASKS = {
    PersonalKind.NAME: mask_name,
    PersonalKind.ID_NUMBER: mask_identifier,
    PersonalKind.MOBILE: mask_mobile,
}

_KINDS = {
    ApplicantKind.PERSON: application_pb2.APPLICANT_KIND_PERSON,
    ApplicantKind.ORGANISATION: application_pb2.APPLICANT_KIND_ORGANISATION,
}


@dataclass(frozen=True, slots=True)
class SealedPersonalData:
    """The applicant's personal data, each sealed to the application and masked."""

    name: application_pb2.SealedText
    identifier: application_pb2.SealedText
    mobile: application_pb2.SealedText
    # The form as stored and published: personal fields as {"sealed", "masked"}.
    form: dict[str, Any]
    agent: SealedAgent | None = None


@dataclass(frozen=True, slots=True)
class SealedAgent:
    """The agent's personal data sealed to the application (contexts
    `<code>:agent:name|identifier|mobile`), with the agent's other fields."""

    name: application_pb2.SealedText
    identifier: application_pb2.SealedText
    mobile: application_pb2.SealedText
    agent: Agent

    def message(self) -> application_pb2.Agent:
        authorisation = self.agent.authorisation
        return application_pb2.Agent(
            name=self.name,
            identifier=self.identifier,
            mobile=self.mobile,
            relation=str(self.agent.relation),
            organisation=self.agent.organisation,
            authorisation=application_pb2.Authorisation(
                scope=[str(act) for act in authorisation.scope],
                valid_from=authorisation.valid_from.isoformat(),
                valid_until=authorisation.valid_until.isoformat(),
                given_by=str(authorisation.given_by),
                letter_reference=authorisation.letter_reference,
                consent_reference=authorisation.consent_reference,
            ),
        )

    def stored(self) -> dict[str, Any]:
        """What intake keeps of the agent (jsonb): sealed and masked, never in the clear."""
        return {
            "name": {"sealed": self.name.sealed, "masked": self.name.masked},
            "identifier": {"sealed": self.identifier.sealed, "masked": self.identifier.masked},
            "mobile": {"sealed": self.mobile.sealed, "masked": self.mobile.masked},
            "relation": str(self.agent.relation),
            "organisation": self.agent.organisation,
            "authorisation": self.agent.authorisation.as_json(),
        }


def agent_context(application_code: str, field: str) -> str:
    return f"{application_code}:agent:{field}"


def seal_agent(sealer: PiiSealer, agent: Agent, *, application_code: str) -> SealedAgent:
    """The agent's name, ID number and mobile sealed and masked like the applicant's."""
    return SealedAgent(
        name=sealer.sealed_text(
            agent.name, mask_name(agent.name), context=agent_context(application_code, "name")
        ),
        identifier=sealer.sealed_text(
            agent.identifier,
            mask_identifier(agent.identifier),
            context=agent_context(application_code, "identifier"),
        ),
        mobile=sealer.sealed_text(
            agent.mobile,
            mask_mobile(agent.mobile),
            context=agent_context(application_code, "mobile"),
        ),
        agent=agent,
    )


def seal_personal_data(
    sealer: PiiSealer, submission: Submission, *, application_code: str
) -> SealedPersonalData:
    """Seal with the application code in the context, so that a sealed value copied to
    another application does not open there."""
    # Organisation names are public record; only people's names are masked.
    name_masked = (
        mask_name(submission.applicant_name)
        if submission.applicant_kind is ApplicantKind.PERSON
        else submission.applicant_name
    )
    return SealedPersonalData(
        name=sealer.sealed_text(
            submission.applicant_name, name_masked, context=f"{application_code}:name"
        ),
        identifier=sealer.sealed_text(
            submission.applicant_identifier,
            mask_identifier(submission.applicant_identifier),
            context=f"{application_code}:identifier",
        ),
        mobile=sealer.sealed_text(
            submission.mobile, mask_mobile(submission.mobile), context=f"{application_code}:mobile"
        ),
        form=seal_form(sealer, submission, application_code=application_code),
        agent=seal_agent(sealer, submission.agent, application_code=application_code)
        if submission.agent is not None
        else None,
    )


def seal_form(
    sealer: PiiSealer, submission: Submission, *, application_code: str
) -> dict[str, Any]:
    """The form with every field the matter's schema marks personal sealed in place as
    `{"sealed": ..., "masked": ...}`, each under its own context."""
    form: dict[str, Any] = json_copy(submission.form)
    seal_personal_fields(
        sealer, form, submission.matter.form.personal, application_code=application_code
    )
    return form


def seal_personal_fields(
    sealer: PiiSealer,
    form: dict[str, Any],
    personal: Mapping[tuple[str, ...], PersonalKind],
    *,
    application_code: str,
) -> int:
    """Seal in place each personal field of `form` that holds plain text; how many were.
    A field already sealed (an object) or absent is left alone, so sealing a stored form
    again changes nothing (`onceonly-intake reseal-forms`)."""
    sealed = 0
    for path, kind in personal.items():
        parent: Any = form
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        value = parent.get(path[-1]) if isinstance(parent, dict) else None
        if not isinstance(value, str):
            continue  # absent, or sealed already (validation refused any other type)
        parent[path[-1]] = {
            "sealed": sealer.seal(value, context=form_field_context(application_code, path)),
            "masked": _MASKS[kind](value),
        }
        sealed += 1
    return sealed


def form_json(form: dict[str, Any]) -> str:
    return canonical_json(form)


def application_submitted(
    submission: Submission,
    sealed: SealedPersonalData,
    *,
    application_code: str,
    integrator_id: str,
    submitted_at: datetime,
) -> application_pb2.ApplicationSubmitted:
    stamp = Timestamp()
    stamp.FromDatetime(submitted_at)
    consents = []
    for consent in submission.consents:
        # Most consents are given with the submission: its stamp (the message copies it).
        given = stamp
        if consent.given_at is not None:
            given = Timestamp()
            given.FromDatetime(consent.given_at)
        consents.append(
            application_pb2.Consent(
                purpose=consent.purpose, reference=consent.reference, given_at=given
            )
        )
    event = application_pb2.ApplicationSubmitted(
        application_code=application_code,
        matter_code=submission.matter_code,
        integrator_id=integrator_id,
        applicant=application_pb2.Applicant(
            kind=_KINDS[submission.applicant_kind], name=sealed.name, identifier=sealed.identifier
        ),
        contact=application_pb2.Contact(
            mobile=sealed.mobile, channels=list(submission.channels), language=submission.language
        ),
        materials=[
            application_pb2.Material(code=material.code, reference=material.reference)
            for material in submission.materials
        ],
        form_json=form_json(sealed.form),
        submitted_at=stamp,
        consents=consents,
        submitted_region=submission.routing.submitted_region,
        competent_region=submission.routing.competent_region,
    )
    if sealed.agent is not None:
        event.agent.CopyFrom(sealed.agent.message())
    return event


def consents_json(submission: Submission, *, submitted_at: datetime) -> list[dict[str, str]]:
    """What intake keeps of the consents (jsonb)."""
    return [
        {
            "purpose": consent.purpose,
            "reference": consent.reference,
            "given_at": (consent.given_at or submitted_at).isoformat(),
        }
        for consent in submission.consents
    ]
