"""The events intake publishes, with personal data sealed for the application."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import application_pb2
from onceonly.intake.submission import ApplicantKind, Submission
from onceonly.platform.pii import PiiSealer, mask_identifier, mask_mobile, mask_name

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
    )


def form_json(submission: Submission) -> str:
    return json.dumps(submission.form, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


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
    return application_pb2.ApplicationSubmitted(
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
        form_json=form_json(submission),
        submitted_at=stamp,
    )
