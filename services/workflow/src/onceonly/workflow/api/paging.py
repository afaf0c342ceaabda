"""Keyset cursors of the department API's lists (tasks, supervision cases,
rectifications, work orders): the last row's sort key and code, base64url, opaque to the
client. A cursor only positions within the caller's own list, so it needs no signature."""

import base64
import binascii
from datetime import datetime

from onceonly.platform.http import Problem
from onceonly.platform.request_rules import storable_text, within_supported_range


def cursor_after(at: datetime | str, code: str) -> str:
    """The cursor of a page whose last row is (`at`, `code`)."""
    stamp = at.isoformat() if isinstance(at, datetime) else at
    return base64.urlsafe_b64encode(f"{stamp}|{code}".encode()).decode()


def pair(cursor: str) -> tuple[str, str]:
    """The (sort key, code) a cursor names, as text; a cursor this API did not give out
    is a 422 naming `cursor`."""
    try:
        stamp, separator, code = base64.urlsafe_b64decode(cursor).decode().partition("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid() from None
    # Text the client sends back: held to what any query value must be.
    if not separator or not storable_text(stamp + code):
        raise _invalid()
    return stamp, code


def position(cursor: str | None) -> tuple[datetime, str] | None:
    """Where the next page starts (None: at the top), its sort key a time."""
    if cursor is None:
        return None
    stamp, code = pair(cursor)
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        raise _invalid() from None
    if not within_supported_range(at):
        raise _invalid()
    return at, code


def _invalid() -> Problem:
    return Problem(
        422,
        "Invalid cursor",
        "cursor: not a cursor this list gave out.",
        errors=[{"field": "cursor", "code": "invalid_cursor"}],
    )
