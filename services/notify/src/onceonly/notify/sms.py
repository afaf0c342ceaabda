"""SMS length and segment counting (pure).

A text that fits the GSM 03.38 7-bit alphabet travels as GSM-7: 160 septets in one SMS,
153 per segment once split (the rest of each segment holds the concatenation header).
Anything else, Chinese included, travels as UCS-2: 70 UTF-16 code units in one SMS, 67
per segment. Carriers bill per segment, and never split an escape pair (GSM-7) or a
surrogate pair (UCS-2) across two segments, so neither does the count here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 basic character set (ESC, 0x1B, is left out: it only introduces extensions).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character costs two septets (ESC + code).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_SEGMENT = 160, 153
UCS2_SINGLE, UCS2_SEGMENT = 70, 67


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def encoding_of(text: str) -> SmsEncoding:
    """GSM-7 when every character is in the GSM alphabet, else UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return SmsEncoding.GSM7
    return SmsEncoding.UCS2


def _unit_widths(text: str, encoding: SmsEncoding) -> list[int]:
    if encoding is SmsEncoding.GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Outside the Basic Multilingual Plane (emoji, rare CJK) a character is a surrogate pair.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _split_count(widths: list[int], per_segment: int) -> int:
    segments, used = 1, 0
    for width in widths:
        if used + width > per_segment:
            segments += 1
            used = 0
        used += width
    return segments


def measure(text: str) -> SmsLength:
    """Encoding, length in units, and the number of segments a carrier bills."""
    encoding = encoding_of(text)
    widths = _unit_widths(text, encoding)
    units = sum(widths)
    single, per_segment = (
        (GSM7_SINGLE, GSM7_SEGMENT) if encoding is SmsEncoding.GSM7 else (UCS2_SINGLE, UCS2_SEGMENT)
    )
    segments = 1 if units <= single else _split_count(widths, per_segment)
    return SmsLength(encoding=encoding, units=units, segments=segments)


def segment_count(text: str) -> int:
    """Segments billed for `text` (an empty text still costs one message)."""
    return measure(text).segments
