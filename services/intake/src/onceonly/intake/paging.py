"""Cursor pagination of application lists: newest first, by (submitted_at, code).

The cursor is opaque to integrators (base64url JSON of the last row's position). It only
positions within the integrator's own list, so it needs no signature; a malformed one
is an InvalidValue.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from onceonly.intake.errors import InvalidValue
from onceonly.platform.request_rules import storable_text, within_supported_range

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Position:
    """The last application of a page: the next page starts after it."""

    submitted_at: datetime
    application_code: str


def encode_cursor(position: Position) -> str:
    raw = json.dumps(
        [position.submitted_at.isoformat(), position.application_code], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        submitted_at, code = json.loads(raw)
        position = Position(datetime.fromisoformat(submitted_at), str(code))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise _malformed() from None
    # A cursor is text the client sends back: held to what any query value must be.
    if (
        position.submitted_at.tzinfo is None
        or not within_supported_range(position.submitted_at)
        or not storable_text(position.application_code)
    ):
        raise _malformed()
    return position


def _malformed() -> InvalidValue:
    return InvalidValue(
        "malformed_cursor",
        "This cursor was not given by this API; start again without one.",
        "该游标无效, 请不带游标重新查询.",
    )
