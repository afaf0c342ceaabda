"""The form checked against its matter's form schema: unknown fields refused, values
checked, and personal fields (a spouse's name, ID number, mobile) sealed and masked."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.intake.errors import SubmissionInvalid
from onceonly.intake.events import application_submitted, seal_personal_data
from onceonly.intake.schemas import ApplicationView
from onceonly.intake.service import _application_record
from onceonly.intake.submission import MaterialReference, SubmissionDraft, validate_submission
from onceonly.platform.pii import PiiError, PiiSealer, form_field_context, masked_form
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

TODAY = date(2025, 3, 3)
CODE = "330100-20250303-0004276"
SPOUSE_NAME, SPOUSE_ID, SPOUSE_MOBILE = "李四娘", "330106198805210125", "13900001234"
DRAFT = SubmissionDraft(
    matter_code="household-transfer",
    applicant_kind="person",
    applicant_name="张三",
    applicant_identifier="11010519491231002X",
    mobile="13812345678",
    materials=(MaterialReference("transfer-application", "doc://1"),),
    form={
        "to_district": "西湖区",
        "reason": "工作调动",
        "spouse_name": f" {SPOUSE_NAME} ",
        "spouse_id_number": SPOUSE_ID.lower(),
        "spouse_mobile": SPOUSE_MOBILE,
    },
)


@pytest.fixture
def sealer() -> PiiSealer:
    return PiiSealer(DEVELOPMENT_PII_KEY)


def with_form(**fields: Any) -> SubmissionDraft:
    return replace(DRAFT, form={**DRAFT.form, **fields})


def issues_of(draft: SubmissionDraft) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(draft, default_catalogue(), today=TODAY)
    for issue in raised.value.issues:
        assert issue.message_en and issue.message_zh
    return {issue.field: issue.code for issue in raised.value.issues}


def test_personal_fields_are_checked_and_normalised() -> None:
    submission = validate_submission(DRAFT, default_catalogue(), today=TODAY)
    assert submission.form["spouse_name"] == SPOUSE_NAME
    assert submission.form["spouse_id_number"] == SPOUSE_ID  # check digit upper-cased
    assert submission.form["to_district"] == "西湖区"


def test_unknown_fields_are_refused_by_name() -> None:
    assert issues_of(with_form(spouse_nickname="x", floor=3)) == {
        "form.spouse_nickname": "unknown_field",
        "form.floor": "unknown_field",
    }


def test_a_matter_without_form_fields_refuses_any() -> None:
    draft = replace(DRAFT, matter_code="food-business-licence", applicant_kind="organisation")
    draft = replace(draft, applicant_identifier="91350100M000100Y43", materials=(), form={"x": 1})
    assert issues_of(draft)["form.x"] == "unknown_field"


def test_a_bad_check_digit_is_refused_without_quoting_it() -> None:
    wrong = SPOUSE_ID[:-1] + "6"
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(with_form(spouse_id_number=wrong), default_catalogue(), today=TODAY)
    (issue,) = raised.value.issues
    assert (issue.field, issue.code) == ("form.spouse_id_number", "check_digit")
    assert wrong not in issue.message_en and wrong not in issue.message_zh


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"spouse_mobile": "12345"}, {"form.spouse_mobile": "format"}),
        ({"spouse_name": "  "}, {"form.spouse_name": "empty"}),
        ({"spouse_name": 7}, {"form.spouse_name": "type"}),
        ({"reason": ""}, {"form.reason": "too_short"}),
        ({"to_district": ["西湖区"]}, {"form.to_district": "type"}),
    ],
)
def test_wrong_values_name_their_path(fields: dict[str, Any], expected: dict[str, str]) -> None:
    assert issues_of(with_form(**fields)) == expected


def test_formats_and_enums_of_other_matters() -> None:
    draft = replace(
        DRAFT,
        matter_code="birth-of-child",
        materials=(),
        form={"child_name": "张小明", "birth_date": "2026-02-30", "child_sex": "boy"},
    )
    assert issues_of(draft) == {"form.birth_date": "format", "form.child_sex": "enum"}


def test_personal_fields_are_sealed_in_the_event_and_masked(sealer: PiiSealer) -> None:
    submission = validate_submission(DRAFT, default_catalogue(), today=TODAY)
    sealed = seal_personal_data(sealer, submission, application_code=CODE)
    event = application_submitted(
        submission,
        sealed,
        application_code=CODE,
        integrator_id="portal",
        submitted_at=datetime(2025, 3, 3, 1, 2, 3, tzinfo=UTC),
    )
    payload = event.SerializeToString()
    for secret in (SPOUSE_NAME, SPOUSE_ID, SPOUSE_MOBILE, SPOUSE_ID[-8:], "李四"):
        assert secret.encode() not in payload
        assert secret not in json.dumps(sealed.form, ensure_ascii=False)
    form = json.loads(event.form_json)
    assert form["to_district"] == "西湖区"  # what the shared-data checks read stays plain
    assert form["spouse_name"]["masked"] == "李**"
    assert form["spouse_id_number"]["masked"] == "3301**************"
    assert form["spouse_mobile"]["masked"] == "1390000****"
    opened = {
        name: sealer.open(form[name]["sealed"], context=form_field_context(CODE, (name,)))
        for name in ("spouse_name", "spouse_id_number", "spouse_mobile")
    }
    assert opened == {
        "spouse_name": SPOUSE_NAME,
        "spouse_id_number": SPOUSE_ID,
        "spouse_mobile": SPOUSE_MOBILE,
    }
    # Bound to its field: the name's ciphertext does not open as the mobile.
    with pytest.raises(PiiError):
        sealer.open(form["spouse_name"]["sealed"], context=form_field_context(CODE, ("x",)))
    assert masked_form(form) == {
        "to_district": "西湖区",
        "reason": "工作调动",
        "spouse_name": "李**",
        "spouse_id_number": "3301**************",
        "spouse_mobile": "1390000****",
    }


def test_the_application_view_shows_the_form_masked(sealer: PiiSealer) -> None:
    catalogue = default_catalogue()
    submission = validate_submission(DRAFT, catalogue, today=TODAY)
    sealed = seal_personal_data(sealer, submission, application_code=CODE)
    record = _application_record(
        submission,
        sealed,
        code=CODE,
        integrator_id="portal",
        now=datetime(2025, 3, 3, tzinfo=UTC),
        event_id="e",
    )
    assert SPOUSE_ID not in json.dumps(record.form)
    view = ApplicationView.of(
        record, None, outstanding=(), catalogue=catalogue, self_link="/v1/applications/x"
    )
    assert view.form["spouse_name"] == "李**"
    assert view.form["spouse_id_number"] == "3301**************"
    assert view.form["spouse_mobile"] == "1390000****"
    assert SPOUSE_NAME not in view.model_dump_json()


def test_personal_fields_of_nested_objects_are_sealed_by_path(sealer: PiiSealer) -> None:
    catalogue = default_catalogue()
    base = catalogue.matter("household-transfer")
    assert base is not None
    nested = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "spouse": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"id_number": {"type": "string", "x-personal": "id_number"}},
            }
        },
    }
    matter = type(base).model_validate({**base.model_dump(), "form_schema": nested})
    draft = replace(DRAFT, form={"spouse": {"id_number": SPOUSE_ID, "age": 3}})
    nested_catalogue = catalogue.model_copy(update={"matters": (matter,)})
    assert issues_of_in(nested_catalogue, draft) == {"form.spouse.age": "unknown_field"}
    draft = replace(DRAFT, form={"spouse": {"id_number": SPOUSE_ID}})
    submission = validate_submission(draft, nested_catalogue, today=TODAY)
    sealed = seal_personal_data(sealer, submission, application_code=CODE)
    field = sealed.form["spouse"]["id_number"]
    assert field["masked"] == "3301**************"
    context = form_field_context(CODE, ("spouse", "id_number"))
    assert sealer.open(field["sealed"], context=context) == SPOUSE_ID
    # Sealed in a copy: the submission's own form, nested objects too, is as sent.
    assert submission.form == {"spouse": {"id_number": SPOUSE_ID}}


def issues_of_in(catalogue: Any, draft: SubmissionDraft) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as raised:
        validate_submission(draft, catalogue, today=TODAY)
    return {issue.field: issue.code for issue in raised.value.issues}
