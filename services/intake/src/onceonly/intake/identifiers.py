"""Applicant identifiers and contact numbers: resident ID numbers (GB 11643-1999),
unified social credit codes (GB 32100-2015) and mainland mobile numbers.

Pure functions; each returns the normalised value or raises `InvalidValue` with a
machine-readable code and a message in English and Chinese. Messages never quote the
value (a birth date is personal data too), so they are safe to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from onceonly.intake.checksums import GB32100_CHARSET, gb32100_check, iso7064_mod11_2
from onceonly.intake.errors import InvalidValue

# `[0-9]`, never `\d`: in Python `\d` also matches full-width and other Unicode digits.
_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_USCC = re.compile(rf"[{GB32100_CHARSET}]{{2}}[0-9]{{6}}[{GB32100_CHARSET}]{{10}}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")

# Province-level codes of GB/T 2260 (and 81/82/83 of the residence permits that Hong
# Kong, Macao and Taiwan residents hold): the first two digits of a resident ID number.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip
EARLIEST_BIRTH = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class ResidentIdNumber:
    number: str
    region_code: str
    birth_date: date
    sex: Literal["male", "female"]


def _normalise(value: str) -> str:
    return value.strip().upper()


def parse_resident_id(value: str, *, today: date) -> ResidentIdNumber:
    """Validate an 18-character resident ID number: format, region, birth date, check."""
    number = _normalise(value)
    if len(number) != 18:
        raise InvalidValue(
            "length",
            f"A resident ID number has 18 characters, not {len(number)}.",
            f"居民身份证号码应为 18 位, 实际为 {len(number)} 位.",
        )
    if not _RESIDENT_ID.fullmatch(number):
        raise InvalidValue(
            "format",
            "A resident ID number is 17 digits followed by a digit or X.",
            "居民身份证号码应为 17 位数字加 1 位数字或 X.",
        )
    if number[:2] not in PROVINCE_CODES:
        raise InvalidValue(
            "region",
            "The first two digits are not a province code; the number is mistyped.",
            "前两位不是有效的省级行政区划代码, 号码可能输入有误.",
        )
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidValue(
            "birth_date",
            "Digits 7 to 14 are not a valid date of birth.",
            "第 7 至 14 位不是有效的出生日期.",
        ) from None
    if birth > today or birth < EARLIEST_BIRTH:
        raise InvalidValue(
            "birth_date",
            "The date of birth in digits 7 to 14 is in the future or before 1900.",
            "第 7 至 14 位的出生日期晚于今天或早于 1900 年.",
        )
    if iso7064_mod11_2(number[:17]) != number[17]:
        raise InvalidValue(
            "check_digit",
            "The check digit does not match; the number is mistyped.",
            "校验码不正确, 号码可能输入有误.",
        )
    return ResidentIdNumber(
        number=number,
        region_code=number[:6],
        birth_date=birth,
        sex="male" if int(number[16]) % 2 else "female",
    )


def parse_uscc(value: str) -> str:
    """Validate an 18-character unified social credit code; returns it upper-cased.

    Positions 9-17 embed the organisation code (GB 11714) with its own check; only the
    code's own check character (GB 32100) is enforced, which catches typing errors
    without rejecting codes whose embedded part was issued under older rules.
    """
    code = _normalise(value)
    if len(code) != 18:
        raise InvalidValue(
            "length",
            f"A unified social credit code has 18 characters, not {len(code)}.",
            f"统一社会信用代码应为 18 位, 实际为 {len(code)} 位.",
        )
    if not _USCC.fullmatch(code):
        raise InvalidValue(
            "format",
            "A unified social credit code uses digits and capital letters other than"
            " I, O, S, V and Z, with digits in positions 3 to 8.",
            "统一社会信用代码由数字和除 I、O、S、V、Z 以外的大写字母组成, 第 3 至 8 位为数字.",
        )
    if gb32100_check(code[:17]) != code[17]:
        raise InvalidValue(
            "check_digit",
            "The check character does not match; the code is mistyped.",
            "校验码不正确, 代码可能输入有误.",
        )
    return code


def parse_mobile(value: str) -> str:
    """Validate a mainland China mobile number (11 digits, 13x to 19x)."""
    number = value.strip()
    if not _MOBILE.fullmatch(number):
        raise InvalidValue(
            "format",
            "A mainland mobile number has 11 digits and starts with 13 to 19.",
            "手机号码应为 11 位数字, 以 13 至 19 开头.",
        )
    return number
