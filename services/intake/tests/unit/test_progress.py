"""The last-four check of the citizen progress lookup."""

from __future__ import annotations

import pytest

from onceonly.intake.progress import LAST4, last4_matches
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY

CODE = "330100-20250303-0004276"
SEALER = PiiSealer(DEVELOPMENT_PII_KEY)


def matches(last4: str, *, code: str = CODE, sealed_for: str = CODE) -> bool:
    return last4_matches(
        SEALER,
        application_code=code,
        mobile_sealed=SEALER.seal("13812345678", context=f"{sealed_for}:mobile"),
        identifier_sealed=SEALER.seal("11010519491231002X", context=f"{sealed_for}:identifier"),
        last4=last4,
    )


@pytest.mark.parametrize("last4", ["5678", "002X", "002x"])
def test_the_last_four_of_mobile_or_identifier_match(last4: str) -> None:
    assert matches(last4)


@pytest.mark.parametrize("last4", ["0000", "1234", "5679", "0020", "X002", ""])
def test_other_digits_do_not(last4: str) -> None:
    assert not matches(last4)


def test_values_sealed_for_another_application_never_match() -> None:
    # A sealed value copied from another application does not open under this code.
    assert not matches("5678", sealed_for="330100-20250303-0000019")


def test_a_value_sealed_with_an_unknown_key_does_not_match() -> None:
    assert not last4_matches(
        SEALER,
        application_code=CODE,
        mobile_sealed="gone:AAAA",
        identifier_sealed=SEALER.seal("11010519491231002X", context=f"{CODE}:identifier"),
        last4="5678",
    )


@pytest.mark.parametrize(
    ("value", "valid"), [("5678", True), ("002X", True), ("X002", False), ("12a4", False)]
)
def test_the_format_of_last4(value: str, valid: bool) -> None:
    assert bool(LAST4.fullmatch(value)) is valid
