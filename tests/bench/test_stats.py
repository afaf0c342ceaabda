"""The benchmarks' statistics helpers (pure code)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.monitor import Phase, cpu_per_item
from bench.stats import (
    per_second,
    percentile,
    progress_rate,
    rate_over_time,
    ratio,
    summarize,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0
    assert percentile(values, 25) == pytest.approx(17.5)


def test_percentile_ignores_input_order() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_percentile_refuses_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.floats(0, 100))
def test_percentile_lies_within_the_values(values: list[float], q: float) -> None:
    assert min(values) <= percentile(values, q) <= max(values)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50))
def test_percentiles_are_ordered(values: list[float]) -> None:
    assert percentile(values, 50) <= percentile(values, 99) <= percentile(values, 100)


def test_summarize_reports_milliseconds() -> None:
    summary = summarize([0.001, 0.002, 0.003, 0.100])
    assert summary.count == 4
    assert summary.p50_ms == 2.5
    assert summary.max_ms == 100.0
    assert summary.mean_ms == 26.5


def test_summarize_of_nothing_has_no_figures() -> None:
    summary = summarize([])
    assert summary.count == 0
    assert summary.p99_ms is None


def test_rates_and_ratios_never_divide_by_zero() -> None:
    assert per_second(10, 0) == 0.0
    assert per_second(10, 4) == 2.5
    assert ratio(5, 0) is None
    assert ratio(None, 3) is None
    assert ratio(1, 3) == 0.333


def test_rate_over_time_leaves_out_the_ends() -> None:
    # A slow start (one event, then a 10 s pause) and 100 events at 10/s: trimming the
    # first 5 % removes the pause and the steady rate shows.
    stamps = [0.0] + [10.0 + i / 10 for i in range(100)]
    assert rate_over_time(stamps, trim=0.05) == pytest.approx(10.0, rel=0.01)
    assert rate_over_time([1.0, 2.0]) == 0.0


def test_supervision_plan_keeps_a_population_open_while_fewer_fall_due() -> None:
    from bench.config import plan

    burst = plan(quick=True)
    assert (burst.open_tasks, burst.due_tasks, burst.deadline_spread) == (1_000, 1_000, 10)
    population = plan(quick=False, open_tasks=10_000, due_tasks=1_000, deadline_spread=100)
    assert (population.open_tasks, population.due_tasks) == (10_000, 1_000)
    assert population.deadline_spread == 100
    # More due than open is capped at the open ones.
    assert plan(quick=True, open_tasks=50, due_tasks=80).due_tasks == 50


def test_progress_rate_leaves_out_the_start_and_the_end() -> None:
    # 1,000 items: nothing for 10 s (a start-up), then 100/s up to 990, the last 10 late.
    samples = [(0.0, 0), (10.0, 0)] + [(10.0 + t / 10, 10 * t) for t in range(1, 100)]
    samples.append((60.0, 1000))
    assert progress_rate(samples, 1000) == pytest.approx(100.0)
    # Over the whole span it would be 1000 / 60.


def test_progress_rate_is_not_measured_without_a_span() -> None:
    # None, not 0: a report would show a consumer that did nothing.
    assert progress_rate([], 100) is None
    assert progress_rate([(1.0, 100)], 100) is None  # all at once: no span
    assert progress_rate([(0.0, 0), (5.0, 50)], 100) is None  # never reached 95 %
    assert progress_rate([(0.0, 0)], 0) is None
    # Under 5 % and then over 95 % in one step, as notify's committed offsets did.
    assert progress_rate([(0.0, 0), (0.1, 40), (0.8, 1000)], 1000) is None


def test_cpu_per_item_sums_the_processes_and_gives_the_ceiling() -> None:
    phase = Phase(
        "p",
        started=0.0,
        cpu_start={"intake-api": 10.0, "postgres": 5.0, "idle": 1.0, "restarted": 7.0},
        cpu_end={"intake-api": 12.0, "postgres": 6.0, "idle": 1.0, "restarted": 0.5},
        ended=4.0,
    )
    found = cpu_per_item(phase, 1000, cores=2)
    # A restarted process counts from 0 (never negative); an idle one is left out.
    assert found == {"intake-api": 2.0, "postgres": 1.0, "total": 3.0, "ceiling_per_s": 666.7}
    assert cpu_per_item(phase, 0, cores=2) == {}
