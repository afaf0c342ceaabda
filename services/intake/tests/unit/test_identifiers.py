"""Resident ID numbers, unified social credit codes, mobile numbers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.intake.checksums import GB32100_CHARSET, gb32100_check, iso7064_mod11_2
from onceonly.intake.errors import InvalidValue
from onceonly.intake.identifiers import (
    PROVINCE_CODES,
    parse_mobile,
    parse_resident_id,
    parse_uscc,
)

TODAY = date(2025, 3, 3)


def resident_id(region: str, birth: date | str, sequence: int) -> str:
    """A number with the right check digit; `birth` as YYYYMMDD may be impossible."""
    day = birth if isinstance(birth, str) else f"{birth:%Y%m%d}"
    body = f"{region}{day}{sequence:03d}"
    return body + iso7064_mod11_2(body)


# -- resident ID numbers ------------------------------------------------------------


def test_the_standards_own_example_is_valid() -> None:
    # GB 11643-1999 appendix example: Beijing Chaoyang, born 1949-12-31, check X.
    parsed = parse_resident_id("11010519491231002X", today=TODAY)
    assert parsed.region_code == "110105"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"


@pytest.mark.parametrize(
    ("number", "sex"),
    [
        (resident_id("330106", date(1990, 1, 1), 123), "male"),
        (resident_id("440305", date(2000, 2, 29), 456), "female"),
        (resident_id("810000", date(1985, 7, 1), 1), "male"),  # HK residence permit
    ],
)
def test_computed_numbers_are_valid(number: str, sex: str) -> None:
    parsed = parse_resident_id(number, today=TODAY)
    assert parsed.number == number
    assert parsed.sex == sex


def test_lower_case_x_and_spaces_are_normalised() -> None:
    assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        ("1101051949123100AX", "format"),
        ("１１０１０５１９４９１２３１００２Ｘ", "format"),  # full-width digits
        ("X10105194912310021", "format"),
        ("110105194912310021", "check_digit"),
        ("00010519491231002X", "region"),
        (resident_id("990105", date(1990, 1, 1), 1), "region"),
        (resident_id("110105", "19900230", 1), "birth_date"),
        (resident_id("110105", "19901301", 1), "birth_date"),
        (resident_id("110105", TODAY + timedelta(days=1), 1), "birth_date"),
        (resident_id("110105", date(1899, 12, 31), 1), "birth_date"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(number: str, code: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_resident_id(number, today=TODAY)
    assert raised.value.code == code
    assert raised.value.message_en and raised.value.message_zh


def test_born_today_is_accepted() -> None:
    assert parse_resident_id(resident_id("110105", TODAY, 7), today=TODAY).birth_date == TODAY


regions = st.builds(
    lambda province, rest: province + f"{rest:04d}",
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(0, 9999),
)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)


@given(regions, births, st.integers(0, 999))
def test_every_well_formed_number_parses_back(region: str, birth: date, sequence: int) -> None:
    parsed = parse_resident_id(resident_id(region, birth, sequence), today=TODAY)
    assert (parsed.region_code, parsed.birth_date) == (region, birth)
    assert parsed.sex == ("male" if sequence % 2 else "female")


@given(regions, births, st.integers(0, 999), st.integers(0, 16), st.integers(1, 9))
def test_any_single_mistyped_digit_is_caught(
    region: str, birth: date, sequence: int, position: int, delta: int
) -> None:
    number = resident_id(region, birth, sequence)
    wrong = str((int(number[position]) + delta) % 10)
    mistyped = number[:position] + wrong + number[position + 1 :]
    with pytest.raises(InvalidValue):
        parse_resident_id(mistyped, today=TODAY)


@given(regions, births, st.integers(0, 999), st.integers(0, 15))
def test_any_swap_of_neighbouring_digits_is_caught(
    region: str, birth: date, sequence: int, position: int
) -> None:
    number = resident_id(region, birth, sequence)
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    with pytest.raises(InvalidValue):
        parse_resident_id(swapped, today=TODAY)


# -- unified social credit codes ----------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the example of GB 32100-2015
        "91330100716105852F",  # published codes of well-known companies
        "914403001922038216",
        "9144030071526726XG",
        "91110108551385082Q",
    ],
)
def test_published_codes_are_valid(code: str) -> None:
    assert parse_uscc(code) == code


def test_lower_case_is_normalised() -> None:
    assert parse_uscc(" 91350100m000100y43") == "91350100M000100Y43"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91350100M000100Y4", "length"),
        ("91350100M000100Y433", "length"),
        ("91350100M000100Y44", "check_digit"),
        ("91350100M000100I43", "format"),  # I is not in the character set
        ("91350100O000100Y43", "format"),  # nor O
        ("9135A100M000100Y43", "format"),  # the division code is digits
    ],
)
def test_invalid_codes_are_refused_with_the_reason(code: str, reason: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_uscc(code)
    assert raised.value.code == reason


uscc_bodies = st.builds(
    lambda head, region, tail: head + region + tail,
    st.text(GB32100_CHARSET, min_size=2, max_size=2),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(GB32100_CHARSET, min_size=9, max_size=9),
)


@given(uscc_bodies)
def test_every_code_with_its_check_character_is_valid(body: str) -> None:
    assert parse_uscc(body + gb32100_check(body)) == body + gb32100_check(body)


@given(uscc_bodies, st.integers(0, 16), st.integers(1, 30))
def test_any_single_mistyped_character_is_caught(body: str, position: int, delta: int) -> None:
    code = body + gb32100_check(body)
    if 2 <= position <= 7:
        wrong = str((int(code[position]) + delta) % 10)
        if wrong == code[position]:
            return
    else:
        wrong = GB32100_CHARSET[(GB32100_CHARSET.index(code[position]) + delta) % 31]
    mistyped = code[:position] + wrong + code[position + 1 :]
    with pytest.raises(InvalidValue):
        parse_uscc(mistyped)


# -- mobile numbers -----------------------------------------------------------------


@pytest.mark.parametrize("number", ["13812345678", "19912345678", "15000000000", " 17712345678 "])
def test_mainland_mobile_numbers_are_valid(number: str) -> None:
    assert parse_mobile(number) == number.strip()


@pytest.mark.parametrize(
    "number",
    [
        "12812345678",  # no 12x mobile prefix
        "1381234567",
        "138123456789",
        "+8613812345678",
        "138-1234-5678",
        "１３８１２３４５６７８",  # full-width digits
        "",
    ],
)
def test_other_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_mobile(number)
    assert raised.value.code == "format"
