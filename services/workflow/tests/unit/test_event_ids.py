"""Logical event ids: the same place gives the same id, any other place another."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.workflow.event_ids import event_key, logical_event_id

CODE = "330100-20261202-0000001"


def test_the_same_place_gives_the_same_id() -> None:
    key = event_key("onceonly.events.v1.TaskDecided", "public-security")
    assert logical_event_id(CODE, key, 1) == logical_event_id(CODE, key, 1)
    assert uuid.UUID(logical_event_id(CODE, key, 1)).version == 5


places = st.tuples(
    st.sampled_from(["330100-20261202-0000001", "330100-20261202-0000002"]),
    st.sampled_from(["onceonly.events.v1.TaskDecided", "onceonly.events.v1.TaskStarted"]),
    st.sampled_from(["", "public-security", "civil-affairs"]),
    st.integers(min_value=1, max_value=5),
)


@given(places, places)
def test_different_places_give_different_ids(a, b) -> None:  # type: ignore[no-untyped-def]
    ids = {
        logical_event_id(code, event_key(ce_type, department), n)
        for code, ce_type, department, n in (a, b)
    }
    assert len(ids) == (1 if a == b else 2)


def test_occurrences_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        logical_event_id(CODE, event_key("x"), 0)
