"""The department API's keyset cursors: what a page gives out reads back as its
position; anything else is a 422 naming `cursor`, never a 500."""

import base64
from datetime import UTC, datetime

import pytest

from onceonly.platform.http import Problem
from onceonly.workflow.api.paging import cursor_after, position


def test_a_cursor_reads_back_as_the_last_rows_position() -> None:
    at = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    assert position(cursor_after(at, "DB-330100-1")) == (at, "DB-330100-1")
    assert position(cursor_after(at.isoformat(), "WO-1")) == (at, "WO-1")
    assert position(None) is None


@pytest.mark.parametrize(
    "raw",
    [
        "not a time|WO-1",
        "0001-01-01T00:00:00+14:00|WO-1",  # before 1970
        "9999-12-31T23:59:59-14:00|WO-1",  # after 2100
        "2026-12-05T09:30:00+00:00|WO-\x00",  # a NUL in the code
    ],
)
def test_a_cursor_this_api_did_not_give_is_a_422(raw: str) -> None:
    for cursor in ("@@", base64.urlsafe_b64encode(raw.encode()).decode()):
        with pytest.raises(Problem) as refused:
            position(cursor)
        assert refused.value.status == 422
