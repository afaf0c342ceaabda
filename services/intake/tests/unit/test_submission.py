"""Validation of submissions against the catalogue and the identifier rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.intake.errors import SubmissionInvalid
from onceonly.intake.submission import (
    ApplicantKind,
    MaterialReference,
    SubmissionDraft,
    validate_submission,
)

TODAY = date(2025, 3, 3)
PERSON = SubmissionDraft(
    matter_code="household-transfer",
    applicant_kind="person",
    applicant_name=" 张三 ",
    applicant_identifier="11010519491231002x",
    mobile="13812345678",
    channels=("sms", "app", "sms"),
    language="zh",
    materials=(
        MaterialReference("transfer-application", "doc://1"),
        MaterialReference("household-register", "doc://2"),
    ),
    form={"destination": "杭州"},
)
ORGANISATION = SubmissionDraft(
    matter_code="business-startup",
    applicant_kind="organisation",
    applicant_name="杭州示例科技有限公司",
    applicant_identifier="91350100m000100y43",
    mobile="13912345678",
    materials=(MaterialReference("registration-form", "doc://3"),),
)


def issues_of(draft: SubmissionDraft) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(draft, default_catalogue(), today=TODAY)
    for issue in raised.value.issues:
        assert issue.message_en and issue.message_zh
    return {issue.field: issue.code for issue in raised.value.issues}


def test_a_person_applying_for_a_person_matter_is_valid() -> None:
    submission = validate_submission(PERSON, default_catalogue(), today=TODAY)
    assert submission.matter.code == "household-transfer"
    assert submission.applicant_kind is ApplicantKind.PERSON
    assert submission.applicant_name == "张三"
    assert submission.applicant_identifier == "11010519491231002X"
    assert submission.channels == ("sms", "app")
    assert [m.code for m in submission.materials] == ["transfer-application", "household-register"]


def test_an_organisation_applying_for_an_organisation_matter_is_valid() -> None:
    submission = validate_submission(ORGANISATION, default_catalogue(), today=TODAY)
    assert submission.applicant_kind is ApplicantKind.ORGANISATION
    assert submission.applicant_identifier == "91350100M000100Y43"


def test_materials_may_be_left_out() -> None:
    # Completeness is decided at acceptance (容缺, shared-data checks), not at intake.
    assert validate_submission(replace(PERSON, materials=()), default_catalogue(), today=TODAY)


def test_an_unknown_matter_is_named() -> None:
    assert issues_of(replace(PERSON, matter_code="fishing-licence")) == {
        "matter_code": "unknown_matter"
    }


def test_a_matter_refuses_the_wrong_kind_of_applicant() -> None:
    assert issues_of(replace(ORGANISATION, matter_code="household-transfer", materials=())) == {
        "applicant.kind": "kind_not_allowed"
    }


def test_the_identifier_is_checked_by_the_applicants_kind() -> None:
    # A valid credit code is not a valid resident ID number.
    assert issues_of(replace(PERSON, applicant_identifier="91350100M000100Y43")) == {
        "applicant.identifier": "format"
    }
    assert issues_of(replace(ORGANISATION, applicant_identifier="11010519491231002X")) == {
        "applicant.identifier": "check_digit"
    }


def test_unknown_material_codes_are_named_by_position() -> None:
    draft = replace(
        PERSON,
        materials=(
            MaterialReference("transfer-application", "doc://1"),
            MaterialReference("passport", "doc://2"),
        ),
    )
    assert issues_of(draft) == {"materials.1.code": "unknown_material"}


def test_every_problem_is_reported_at_once() -> None:
    draft = replace(
        PERSON,
        applicant_name="  ",
        applicant_identifier="110105194912310021",
        mobile="12345",
        channels=("fax",),
        language="fr",
        materials=(MaterialReference("passport", " "),),
    )
    assert issues_of(draft) == {
        "applicant.name": "empty",
        "applicant.identifier": "check_digit",
        "contact.mobile": "format",
        "contact.channels.0": "unknown_channel",
        "contact.language": "unknown_language",
        "materials.0.code": "unknown_material",
        "materials.0.reference": "empty",
    }


def test_unknown_kind_and_no_channels() -> None:
    assert issues_of(replace(PERSON, applicant_kind="robot", channels=())) == {
        "applicant.kind": "unknown_kind",
        "contact.channels": "empty",
    }
