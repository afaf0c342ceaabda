"""Cursors: opaque, round-trip exactly, and a forged or garbled one is an InvalidValue."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from onceonly.intake.errors import InvalidValue
from onceonly.intake.paging import Position, decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_the_microsecond() -> None:
    position = Position(
        datetime(2025, 3, 3, 8, 30, 1, 123456, tzinfo=UTC), "330100-20250303-0004276"
    )
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert "330100" not in cursor  # opaque, and URL-safe without padding
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        b64(b"not json"),
        b64(b'{"a": 1}'),
        b64(b'["2025-03-03T08:30:00+00:00"]'),
        b64(b'["yesterday", "330100-20250303-0004276"]'),
        b64(b'["2025-03-03T08:30:00", "330100-20250303-0004276"]'),  # no time zone
        b64(b"\xff\xfe"),
    ],
)
def test_a_malformed_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidValue) as exc:
        decode_cursor(cursor)
    assert exc.value.code == "malformed_cursor"
