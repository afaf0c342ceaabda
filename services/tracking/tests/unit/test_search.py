"""The operations search's rules: filters, regions, cursors and the SQL they become."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking.search import (
    MAX_LIMIT,
    Cursor,
    SearchQuery,
    SearchRefused,
    conditions,
    region_prefix,
)

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("region", "prefix"),
    [("330000", "33"), ("330100", "3301"), ("330106", "330106"), ("110101", "110101")],
)
def test_a_region_takes_what_lies_under_it(region: str, prefix: str) -> None:
    assert region_prefix(region) == prefix


@pytest.mark.parametrize("region", ["", "33", "0330100", "033010", "33010a", "３３０１００"])
def test_a_region_is_a_six_digit_division_code(region: str) -> None:
    with pytest.raises(SearchRefused) as refused:
        region_prefix(region)
    assert refused.value.field == "region"


def test_a_cursor_comes_back_as_given() -> None:
    cursor = Cursor(T0, "330100-20261205-0000010")
    assert Cursor.decode(cursor.encode()) == cursor


@given(st.text(max_size=80))
def test_any_other_cursor_is_refused_by_name(text: str) -> None:
    try:
        cursor = Cursor.decode(text)
    except SearchRefused as refused:
        assert refused.field == "cursor"
    else:  # only what encode could have made
        assert Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    ("field", "query"),
    [
        ("code", {"code_prefix": "33%"}),
        ("code", {"code_prefix": "a" * 65}),
        ("matter", {"matter": "Household Transfer"}),
        ("department", {"department": "tax;drop"}),
        ("region", {"region": "3301"}),
        ("status", {"statuses": ("completed", "finished")}),
        ("level", {"levels": ("orange",)}),
        ("submitted_to", {"submitted_from": T0, "submitted_to": T0}),
        ("updated_to", {"updated_from": T0, "updated_to": T0 - timedelta(days=1)}),
        ("limit", {"limit": 0}),
        ("limit", {"limit": MAX_LIMIT + 1}),
    ],
)
def test_each_refusal_names_its_parameter(field: str, query: dict) -> None:
    with pytest.raises(SearchRefused) as refused:
        SearchQuery(**query)
    assert refused.value.field == field


def test_filters_become_numbered_parameters_never_text() -> None:
    query = SearchQuery(
        code_prefix="330100-2026_12",
        region="330100",
        matter="household-transfer",
        department="tax",
        statuses=("accepted",),
        levels=("red", "legal"),
        submitted_from=T0,
        cursor=Cursor(T0, "330100-20261205-0000010"),
        visible_to_department="public-security",
    )
    found = conditions(query)
    sql = found.where
    assert "household-transfer" not in sql and "tax" not in sql and "3301" not in sql
    assert [f"${n}" in sql for n in range(1, len(found.values) + 1)] == [True] * len(found.values)
    # The department's staff see their department's applications only, whatever else.
    assert found.clauses[0] == "s.tasks ? $1" and found.values[0] == "public-security"
    # LIKE's wildcard in a code is taken literally.
    assert "330100-2026\\_12" in found.values
    assert "3301" in found.values
    assert found.values[-2:] == [T0, "330100-20261205-0000010"]


def test_no_filter_finds_everything() -> None:
    found = conditions(SearchQuery())
    assert (found.where, found.values) == ("true", [])


def test_open_cases_or_none() -> None:
    assert conditions(SearchQuery(open_case=True)).where.startswith("EXISTS")
    assert conditions(SearchQuery(open_case=False)).where.startswith("NOT EXISTS")
