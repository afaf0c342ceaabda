"""The ApplicationSubmitted event: personal data only sealed and masked."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2
from onceonly.intake.events import application_submitted, seal_personal_data
from onceonly.intake.submission import MaterialReference, SubmissionDraft, validate_submission
from onceonly.platform.pii import PiiError, PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

CODE = "330100-20250303-0004276"
NAME, IDENTIFIER, MOBILE = "张三丰", "11010519491231002X", "13812345678"


@pytest.fixture
def sealer() -> PiiSealer:
    return PiiSealer(DEVELOPMENT_PII_KEY)


def submitted(sealer: PiiSealer, kind: str = "person") -> application_pb2.ApplicationSubmitted:
    draft = SubmissionDraft(
        matter_code="household-transfer" if kind == "person" else "business-startup",
        applicant_kind=kind,
        applicant_name=NAME if kind == "person" else "杭州示例科技有限公司",
        applicant_identifier=IDENTIFIER if kind == "person" else "91350100M000100Y43",
        mobile=MOBILE,
        channels=("sms",),
        materials=(MaterialReference("resident-id", "doc://1"),) if kind == "person" else (),
        form={"destination": "杭州", "reason": "工作调动"} if kind == "person" else {},
    )
    submission = validate_submission(draft, default_catalogue(), today=date(2025, 3, 3))
    sealed = seal_personal_data(sealer, submission, application_code=CODE)
    return application_submitted(
        submission,
        sealed,
        application_code=CODE,
        integrator_id="portal",
        submitted_at=datetime(2025, 3, 3, 1, 2, 3, tzinfo=UTC),
    )


def test_the_event_carries_the_application(sealer: PiiSealer) -> None:
    event = submitted(sealer)
    assert event.application_code == CODE
    assert event.matter_code == "household-transfer"
    assert event.integrator_id == "portal"
    assert event.applicant.kind == application_pb2.APPLICANT_KIND_PERSON
    assert list(event.contact.channels) == ["sms"]
    assert event.contact.language == "zh"
    assert [(m.code, m.reference) for m in event.materials] == [("resident-id", "doc://1")]
    assert json.loads(event.form_json) == {"destination": "杭州", "reason": "工作调动"}
    assert event.submitted_at.ToDatetime(tzinfo=UTC) == datetime(2025, 3, 3, 1, 2, 3, tzinfo=UTC)


def test_personal_data_is_only_sealed_and_masked(sealer: PiiSealer) -> None:
    event = submitted(sealer)
    payload = event.SerializeToString()
    for secret in (NAME, IDENTIFIER, MOBILE):
        assert secret.encode() not in payload
    assert event.applicant.name.masked == "张**"
    assert event.applicant.identifier.masked == "1101**************"
    assert event.contact.mobile.masked == "1381234****"
    assert sealer.open(event.applicant.name.sealed, context=f"{CODE}:name") == NAME
    assert (
        sealer.open(event.applicant.identifier.sealed, context=f"{CODE}:identifier") == IDENTIFIER
    )
    assert sealer.open(event.contact.mobile.sealed, context=f"{CODE}:mobile") == MOBILE


def test_a_sealed_value_does_not_open_for_another_application(sealer: PiiSealer) -> None:
    event = submitted(sealer)
    with pytest.raises(PiiError):
        sealer.open(event.contact.mobile.sealed, context="330100-20250303-0000011:mobile")


def test_an_organisations_name_is_not_masked(sealer: PiiSealer) -> None:
    event = submitted(sealer, kind="organisation")
    assert event.applicant.kind == application_pb2.APPLICANT_KIND_ORGANISATION
    assert event.applicant.name.masked == "杭州示例科技有限公司"
    assert event.applicant.identifier.masked == "9135**************"
