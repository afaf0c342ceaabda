"""The rules of supplements, withdrawal requests and ratings, and their events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2
from onceonly.intake.errors import SubmissionInvalid
from onceonly.intake.submission import MaterialReference
from onceonly.intake.updates import (
    Rating,
    Supplement,
    UpdateKind,
    Withdrawal,
    kind_of,
    update_details,
    update_event,
    validate_rating,
    validate_supplement,
    validate_withdrawal,
)

MATTER = default_catalogue().matter("household-transfer")
AT = datetime(2025, 3, 3, 8, 30, tzinfo=UTC)


def fields(exc: pytest.ExceptionInfo[SubmissionInvalid]) -> set[tuple[str, str]]:
    return {(issue.field, issue.code) for issue in exc.value.issues}


def test_a_supplement_of_the_matters_materials_is_valid() -> None:
    assert MATTER is not None
    materials = (MaterialReference("household-register", "doc://1"),)
    assert validate_supplement(materials, MATTER) == Supplement(materials)


def test_a_supplement_names_every_unknown_or_empty_material() -> None:
    assert MATTER is not None
    with pytest.raises(SubmissionInvalid) as exc:
        validate_supplement(
            [
                MaterialReference("registration-form", "doc://1"),
                MaterialReference("household-register", " "),
            ],
            MATTER,
        )
    assert fields(exc) == {
        ("materials.0.code", "unknown_material"),
        ("materials.1.reference", "empty"),
    }


def test_an_empty_supplement_is_refused() -> None:
    assert MATTER is not None
    with pytest.raises(SubmissionInvalid) as exc:
        validate_supplement([], MATTER)
    assert fields(exc) == {("materials", "empty")}


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_levels_one_to_five_are_valid(level: int) -> None:
    assert validate_rating(level, " 好 ") == Rating(level, "好")


@pytest.mark.parametrize("level", [-1, 0, 6, 100])
def test_other_levels_are_refused(level: int) -> None:
    with pytest.raises(SubmissionInvalid) as exc:
        validate_rating(level, "")
    assert fields(exc) == {("level", "out_of_range")}


def test_a_comment_has_at_most_500_characters() -> None:
    assert validate_rating(3, "差" * 500).comment == "差" * 500
    with pytest.raises(SubmissionInvalid) as exc:
        validate_rating(3, "差" * 501)
    assert fields(exc) == {("comment", "too_long")}


@pytest.mark.parametrize(
    ("reason", "code"), [("", "empty"), ("  ", "empty"), ("x" * 501, "too_long")]
)
def test_a_withdrawal_needs_a_short_reason(reason: str, code: str) -> None:
    with pytest.raises(SubmissionInvalid) as exc:
        validate_withdrawal(reason)
    assert fields(exc) == {("reason", code)}
    assert validate_withdrawal(" 搬家 ") == Withdrawal("搬家")


def test_the_events_carry_the_update() -> None:
    supplement = Supplement((MaterialReference("household-register", "doc://1"),))
    event = update_event(supplement, application_code="C", at=AT)
    assert isinstance(event, application_pb2.SupplementProvided)
    assert event.application_code == "C"
    assert event.provided_at.ToDatetime(tzinfo=UTC) == AT
    assert [(m.code, m.reference) for m in event.materials] == [("household-register", "doc://1")]

    withdrawal = update_event(Withdrawal("搬家"), application_code="C", at=AT)
    assert isinstance(withdrawal, application_pb2.WithdrawalRequested)
    assert (withdrawal.reason, withdrawal.requested_at.ToDatetime(tzinfo=UTC)) == ("搬家", AT)

    rating = update_event(Rating(4, "快"), application_code="C", at=AT)
    assert isinstance(rating, application_pb2.RatingGiven)
    assert (rating.level, rating.comment, rating.rated_at.ToDatetime(tzinfo=UTC)) == (4, "快", AT)


def test_kinds_and_details() -> None:
    assert kind_of(Rating(4, "")) is UpdateKind.RATING
    assert kind_of(Withdrawal("x")) is UpdateKind.WITHDRAWAL
    assert kind_of(Supplement(())) is UpdateKind.SUPPLEMENT
    assert update_details(Rating(4, "快")) == {"level": 4, "comment": "快"}
    assert update_details(Withdrawal("x")) == {"reason": "x"}
    assert update_details(Supplement((MaterialReference("a", "b"),))) == {
        "materials": [{"code": "a", "reference": "b"}]
    }


def test_a_rating_names_the_step_rated() -> None:
    construction = default_catalogue().matter("construction-joint-approval")
    assert MATTER is not None and construction is not None
    # The only department, or the lead department, unless the rater names another.
    assert validate_rating(1, "", matter=MATTER) == Rating(
        1, "", "public-security", "household-transfer"
    )
    assert validate_rating(2, "", matter=construction).department_code == (
        construction.lead_department
    )
    assert validate_rating(2, "", matter=construction, department_code="fire") == Rating(
        2, "", "fire", "construction-joint-approval"
    )
    with pytest.raises(SubmissionInvalid) as exc:
        validate_rating(2, "", matter=construction, department_code="tax")
    assert fields(exc) == {("department_code", "not_in_matter")}
    rating = update_event(
        Rating(1, "慢", "fire", "construction-joint-approval"), application_code="C", at=AT
    )
    assert isinstance(rating, application_pb2.RatingGiven)
    assert (rating.department_code, rating.matter_code) == ("fire", "construction-joint-approval")
    assert update_details(Rating(1, "慢", "fire")) == {
        "level": 1,
        "comment": "慢",
        "department_code": "fire",
    }
