"""The pure reference figures over a generated month, against hand-computed values."""

from datetime import UTC, datetime

import pytest

from onceonly.tracking.figures import percentile_cont, reference_figures

START = datetime(2030, 6, 1, tzinfo=UTC)
END = datetime(2030, 7, 1, tzinfo=UTC)


def test_percentile_cont_interpolates_like_postgres() -> None:
    assert percentile_cont([], 0.9) is None
    assert percentile_cont([7.0], 0.9) == 7.0
    # 10 values 1..10: position 0.9 * 9 = 8.1 → 9 + 0.1 * (10 - 9)
    assert percentile_cont([float(v) for v in range(10, 0, -1)], 0.9) == pytest.approx(9.1)


def test_per_matter(month) -> None:
    found = reference_figures(month.recorded, start=START, end=END, group_by="matter")
    figures = found[month.matter]
    # Completed in June: i % 5 == 0 for i <= 25 (6), == 1 for i <= 17 (4), == 4 for
    # i <= 24 (5); on time 6 + 5, overdue the 4 that took 12 days.
    assert (figures.received, figures.completed) == (30, 15)
    assert (figures.on_time, figures.overdue, figures.on_time_rate) == (11, 4, 0.733)
    assert (figures.open_red, figures.open_yellow) == (6, 6)
    # (6 × (3 d + 1 h) + 4 × (12 d + 1 h) + 5 × (4 d + 2 h)) / 15, in days.
    assert figures.average_days == 5.789
    # The 15 values sorted; position 0.9 × 14 = 12.6 falls among the 12-day ones.
    assert figures.p90_days == pytest.approx(12.042, abs=0.001)
    assert figures.average_committed_days == 10
    # The 5 of i % 5 == 4 had a supplement requested.
    assert (figures.at_most_once, figures.at_most_once_rate) == (10, 0.667)
    # Rated 5 by even i, 4 by odd: i = 0, 10, 20, 4, 14, 24 and 5, 15, 25, 9, 19.
    assert figures.ratings == {5: 6, 4: 5}
    assert figures.as_json()["ratings"] == {"4": 5, "5": 6}


def test_per_department(month) -> None:
    found = reference_figures(month.recorded, start=START, end=END, group_by="department")
    a, b = found[month.department_a], found[month.department_b]
    assert (a.received, a.completed, a.on_time, a.overdue) == (30, 15, 11, 4)
    assert (a.open_red, a.open_yellow, a.at_most_once) == (6, 6, 10)
    # B (even i): decided in June for i = 0, 10, 20 (3 d), 6, 16 (12 d, late),
    # 8, 18, 28 (1 d) and 4, 14, 24 (1 d); no alert, no supplement.
    assert (b.received, b.completed, b.on_time, b.overdue) == (15, 11, 9, 2)
    assert (b.open_red, b.open_yellow, b.at_most_once) == (0, 0, 11)
    assert b.ratings == {5: 6}
    assert set(found) >= {month.department_a, month.department_b}


def test_a_period_with_nothing_has_no_groups(month) -> None:
    empty = datetime(2020, 1, 1, tzinfo=UTC)
    found = reference_figures(month.recorded, start=empty, end=START, group_by="matter")
    # Only the still-open alerts remain: they are open now, whatever the period.
    assert (found[month.matter].received, found[month.matter].open_red) == (0, 6)
