"""The tracing benchmark's ratio: the cheaper traced run against the cheaper untraced."""

from __future__ import annotations

from bench.tracing_bench import traced_ratio

MEASURE = "system_cpu_ms_per_application"


def runs(
    off_1: float, off_2: float, exported_1: float, exported_2: float
) -> dict[str, dict[str, object]]:
    return {
        "off_1": {MEASURE: off_1},
        "off_2": {MEASURE: off_2},
        "exported_1": {MEASURE: exported_1},
        "exported_2": {MEASURE: exported_2},
    }


def test_a_burst_in_one_traced_run_does_not_count_against_tracing() -> None:
    # The 2026-12-07 plan's shape: one window's Postgres spiked (+10 ms per application).
    assert traced_ratio(runs(120.0, 125.0, 140.0, 130.0), MEASURE) == round(120 / 130, 3)


def test_a_burst_in_one_untraced_run_does_not_flatter_tracing() -> None:
    assert traced_ratio(runs(150.0, 120.0, 130.0, 132.0), MEASURE) == round(120 / 130, 3)


def test_tracing_that_costs_more_in_every_run_shows_below_one() -> None:
    ratio = traced_ratio(runs(100.0, 101.0, 125.0, 126.0), MEASURE)
    assert ratio is not None and ratio < 0.85


def test_no_cpu_measured_gives_no_ratio() -> None:
    assert traced_ratio(runs(100.0, 100.0, 0.0, 0.0), MEASURE) is None
