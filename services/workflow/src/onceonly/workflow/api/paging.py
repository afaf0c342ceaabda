"""Keyset cursors of the department API's lists (supervision cases, rectifications,
work orders): the last row's time and code, base64url, opaque to the client. A cursor
only positions within the caller's own list, so it needs no signature."""

import base64
import binascii
from datetime import datetime

from onceonly.platform.http import Problem
from onceonly.platform.request_rules import storable_text, within_supported_range


def cursor_after(at: datetime | str, code: str) -> str:
    """The cursor of a page whose last row is (`at`, `code`)."""
    stamp = at.isoformat() if isinstance(at, datetime) else at
    return base64.urlsafe_b64encode(f"{stamp}|{code}".encode()).decode()


def position(cursor: str | None) -> tuple[datetime, str] | None:
    """Where the next page starts (None: at the top); a cursor this API did not give
    out is a 422 naming `cursor`."""
    if cursor is None:
        return None
    try:
        stamp, _, code = base64.urlsafe_b64decode(cursor).decode().partition("|")
        at = datetime.fromisoformat(stamp)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid() from None
    # Text the client sends back: held to what any query value must be.
    if not within_supported_range(at) or not storable_text(code):
        raise _invalid()
    return at, code


def _invalid() -> Problem:
    return Problem(
        422,
        "Invalid cursor",
        "cursor: not a cursor this list gave out.",
        errors=[{"field": "cursor", "code": "invalid_cursor"}],
    )
