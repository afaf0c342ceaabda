"""Pages of the open alerts: every alert once, in order, across pages of any size."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking.alert_pages import AlertPosition, alert_page
from onceonly.tracking.search import SearchRefused

NOON = datetime(2026, 12, 5, 12, tzinfo=UTC)

alerts = st.lists(
    st.fixed_dictionaries(
        {
            "due_at": st.one_of(
                st.none(), st.integers(-5, 5).map(lambda h: NOON + timedelta(hours=h))
            ),
            "application_code": st.sampled_from(["A-1", "A-2", "B-1"]),
            "department_code": st.sampled_from(["", "tax", "public-security"]),
        }
    ),
    unique_by=lambda row: (row["application_code"], row["department_code"]),
)


@given(alerts, st.integers(1, 4))
def test_pages_hold_every_alert_once_in_order(rows, limit) -> None:
    seen: list[dict] = []
    after = None
    for _ in range(len(rows) + 1):
        page, after = alert_page(rows, after=after, limit=limit)
        assert len(page) <= limit
        seen.extend(page)
        if after is None:
            break
        after = AlertPosition.decode(after.encode())
    keys = [AlertPosition.of(row).key() for row in seen]
    assert keys == sorted(keys) and len(seen) == len(rows)


def test_the_most_overdue_first_and_no_due_time_last() -> None:
    rows = [
        {"due_at": None, "application_code": "A-1", "department_code": ""},
        {"due_at": NOON, "application_code": "A-2", "department_code": "tax"},
        {"due_at": NOON - timedelta(days=2), "application_code": "A-3", "department_code": ""},
    ]
    page, after = alert_page(rows, after=None, limit=2)
    assert [row["application_code"] for row in page] == ["A-3", "A-2"]
    assert after is not None
    assert [row["application_code"] for row in alert_page(rows, after=after, limit=2)[0]] == ["A-1"]


@pytest.mark.parametrize(
    "cursor",
    [
        "@@",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(
            json.dumps(["0001-01-01T00:00:00+14:00", "A", ""]).encode()
        ).decode(),
        base64.urlsafe_b64encode(json.dumps(["2026-12-05T12:00:00", "A", ""]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([None, "A\u0000", ""]).encode()).decode(),
    ],
)
def test_a_cursor_this_api_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(SearchRefused) as refused:
        AlertPosition.decode(cursor)
    assert refused.value.field == "cursor"
