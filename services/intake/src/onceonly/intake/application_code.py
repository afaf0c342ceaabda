"""The application code (统一办件编码): unique, human-readable, self-checking.

`{region}-{yyyymmdd}-{sequence:06d}{check}`, e.g. `330100-20250303-0004276`: the
service centre's division code, the day of submission in China time, the day's
sequence number, and an ISO 7064 MOD 11-2 character over all the digits, so a code
read out over the phone or typed from a receipt can be checked before any lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.intake.checksums import iso7064_mod11_2
from onceonly.intake.errors import InvalidValue

# China has one time zone and no daylight saving: a fixed offset is exact.
MAX_SEQUENCE = 999_999
_CODE = re.compile(r"([0-9]{6})-([0-9]{8})-([0-9]{6})([0-9X])")


@dataclass(frozen=True, slots=True)
class ApplicationCode:
    region: str
    day: date
    sequence: int

    def __post_init__(self) -> None:
        if not (len(self.region) == 6 and self.region.isascii() and self.region.isdigit()):
            raise ValueError("the region is a 6-digit division code")
        if not 1 <= self.sequence <= MAX_SEQUENCE:
            raise ValueError(f"the sequence number is between 1 and {MAX_SEQUENCE}")

    @property
    def digits(self) -> str:
        return f"{self.region}{_yyyymmdd(self.day)}{self.sequence:06d}"

    @property
    def check(self) -> str:
        return iso7064_mod11_2(self.digits)

    def __str__(self) -> str:
        day = _yyyymmdd(self.day)
        digits = f"{self.region}{day}{self.sequence:06d}"
        return f"{self.region}-{day}-{self.sequence:06d}{iso7064_mod11_2(digits)}"


def _yyyymmdd(day: date) -> str:
    # Not strftime: a code is formatted for every submission, and strftime is slower.
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def china_day(moment: datetime) -> date:
    """The calendar day in China at `moment` (which must be timezone-aware)."""
    return moment.astimezone(CHINA_STANDARD_TIME).date()


def format_application_code(region: str, day: date, sequence: int) -> str:
    return str(ApplicationCode(region, day, sequence))


def parse_application_code(text: str) -> ApplicationCode:
    """The parts of a code; raises InvalidValue if it is malformed or mistyped."""
    match = _CODE.fullmatch(text.strip().upper())
    if match is None:
        raise InvalidValue(
            "format",
            "An application code looks like 330100-20250303-0004276.",
            "办件编码格式应为 330100-20250303-0004276.",
        )
    region, day_text, sequence, check = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").replace(tzinfo=UTC).date()
        if day.year < 2000:
            # No code was assigned before 2000, and years below 1000 would be formatted
            # without their leading zeros, so the check would cover other digits.
            raise ValueError(day_text)
        code = ApplicationCode(region, day, int(sequence))
    except ValueError:
        raise InvalidValue(
            "format",
            "The application code has an impossible date or sequence.",
            "办件编码中的日期或序号无效.",
        ) from None
    if code.check != check:
        raise InvalidValue(
            "check_digit",
            "The check character does not match; the code is mistyped.",
            "办件编码校验位不正确, 可能输入有误.",
        )
    return code


def is_valid_application_code(text: str) -> bool:
    try:
        parse_application_code(text)
    except InvalidValue:
        return False
    return True
