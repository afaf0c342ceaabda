"""Application codes: format, check character, parsing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.intake.application_code import (
    ApplicationCode,
    china_day,
    format_application_code,
    is_valid_application_code,
    parse_application_code,
)
from onceonly.intake.checksums import iso7064_mod11_2
from onceonly.intake.errors import InvalidValue


def test_the_format_is_region_day_sequence_and_check() -> None:
    code = format_application_code("330100", date(2025, 3, 3), 427)
    assert code == "330100-20250303-000427" + iso7064_mod11_2("33010020250303000427")
    assert code == "330100-20250303-0004276"


def test_a_check_of_ten_is_written_x() -> None:
    codes = [format_application_code("330100", date(2025, 3, 3), n) for n in range(1, 40)]
    assert any(code.endswith("X") for code in codes)
    assert all(is_valid_application_code(code) for code in codes)


def test_parsing_gives_back_the_parts() -> None:
    parsed = parse_application_code("330100-20250303-0004276")
    assert parsed == ApplicationCode("330100", date(2025, 3, 3), 427)
    assert str(parsed) == "330100-20250303-0004276"


def test_a_lower_case_x_is_accepted() -> None:
    code = next(
        code
        for n in range(1, 100)
        if (code := format_application_code("330100", date(2025, 3, 3), n)).endswith("X")
    )
    assert str(parse_application_code(code.lower())) == code


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("330100-20250303-0004275", "check_digit"),
        ("330100-20250303-0004726", "check_digit"),  # swapped digits
        ("330100-20250230-0000011", "format"),  # 30 February
        ("330100-20250303-0000000", "format"),  # sequence 0 is never given out
        ("330100-20250303-000427", "format"),
        ("33010-20250303-0004276", "format"),
        ("330100_20250303_0004276", "format"),
        ("", "format"),
    ],
)
def test_malformed_or_mistyped_codes_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_application_code(text)
    assert raised.value.code == reason
    assert not is_valid_application_code(text)


@pytest.mark.parametrize("sequence", [0, 1_000_000])
def test_the_sequence_has_six_digits(sequence: int) -> None:
    with pytest.raises(ValueError, match="sequence"):
        format_application_code("330100", date(2025, 3, 3), sequence)


def test_the_day_is_the_day_in_china() -> None:
    assert china_day(datetime(2025, 3, 3, 15, 59, tzinfo=UTC)) == date(2025, 3, 3)
    assert china_day(datetime(2025, 3, 3, 16, 0, tzinfo=UTC)) == date(2025, 3, 4)


regions = st.text("0123456789", min_size=6, max_size=6)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
sequences = st.integers(1, 999_999)


@given(regions, days, sequences)
def test_every_code_parses_back(region: str, day: date, sequence: int) -> None:
    code = format_application_code(region, day, sequence)
    assert parse_application_code(code) == ApplicationCode(region, day, sequence)


@given(regions, days, sequences, st.integers(0, 21), st.integers(1, 9))
def test_a_single_mistyped_digit_is_caught(
    region: str, day: date, sequence: int, position: int, delta: int
) -> None:
    code = format_application_code(region, day, sequence)
    digit_positions = [i for i, char in enumerate(code[:-1]) if char.isdigit()]
    at = digit_positions[position % len(digit_positions)]
    mistyped = code[:at] + str((int(code[at]) + delta) % 10) + code[at + 1 :]
    assert not is_valid_application_code(mistyped)


def test_a_year_before_2000_is_not_a_code() -> None:
    # Found by the property above: 2010 mistyped as 0010 kept a matching check.
    assert not is_valid_application_code("420406-00100101-0000010")
    assert not is_valid_application_code("330100-19991231-0000010")
