"""全省通办: an application goes to the bodies of its matter's competent level above the
place it concerns, wherever it is submitted; the matter is the one published there (a
county's shorter limit, a city's extra material); a place outside the province, or too
broad for the matter, is refused naming `region_code`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.intake.errors import SubmissionInvalid
from onceonly.intake.submission import (
    MaterialReference,
    Submission,
    SubmissionDraft,
    validate_submission,
)

TODAY = date(2026, 12, 5)
# A food business in Ningbo (Yinzhou), applying at a Hangzhou centre; and a construction
# project, a county-level matter.
FOOD = SubmissionDraft(
    matter_code="food-business-licence",
    applicant_kind="organisation",
    applicant_name="宁波示例餐饮有限公司",
    applicant_identifier="91350100m000100y43",
    mobile="13912345678",
    submitted_region="330100",
)
CONSTRUCTION = replace(FOOD, matter_code="construction-joint-approval")


def valid(draft: SubmissionDraft) -> Submission:
    return validate_submission(draft, default_catalogue(), today=TODAY)


def refused(draft: SubmissionDraft) -> dict[str, str]:
    with pytest.raises(SubmissionInvalid) as raised:
        valid(draft)
    return {issue.field: issue.code for issue in raised.value.issues}


def test_submitted_in_one_city_decided_in_the_county_of_another() -> None:
    submission = valid(replace(FOOD, region_code="330212001"))
    assert submission.routing.submitted_region == "330100"
    assert submission.routing.competent_region == "330212"


def test_the_matter_is_the_one_published_where_it_is_decided() -> None:
    # Ningbo's extra material is a material of the matter there, and only there.
    local = MaterialReference("kitchen-waste-contract", "doc://9")
    in_ningbo = valid(replace(FOOD, region_code="330212", materials=(local,)))
    assert "kitchen-waste-contract" in {m.code for m in in_ningbo.matter.materials}
    assert refused(replace(FOOD, region_code="330106", materials=(local,))) == {
        "materials.0.code": "unknown_material"
    }
    # Xihu's shorter limit.
    assert valid(replace(CONSTRUCTION, region_code="330106002")).matter.committed_days == 20
    assert valid(replace(CONSTRUCTION, region_code="330110")).matter.committed_days == 25


def test_a_city_level_matter_goes_to_the_city_of_the_place() -> None:
    loan = SubmissionDraft(
        matter_code="housing-fund-loan",
        applicant_kind="person",
        applicant_name="张三",
        applicant_identifier="11010519491231002x",
        mobile="13812345678",
        submitted_region="330106",
        region_code="330203001",
    )
    assert valid(loan).routing.competent_region == "330200"


def test_without_a_place_the_centre_decides_at_its_own_division() -> None:
    assert valid(FOOD).routing.competent_region == "330100"
    assert valid(replace(FOOD, submitted_region="330106001")).routing.competent_region == "330106"


def test_a_place_outside_the_province_or_too_broad_is_refused() -> None:
    assert refused(replace(FOOD, region_code="320106")) == {"region_code": "unknown_region"}
    assert refused(replace(FOOD, region_code="330100")) == {"region_code": "region_too_broad"}
    assert refused(replace(FOOD, region_code="330199")) == {"region_code": "unknown_region"}
