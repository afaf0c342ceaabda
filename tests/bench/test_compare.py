"""`python -m bench compare`: which figures are compared, and which way is worse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.__main__ import cli
from bench.compare import change_pct, compare, figures, tally, verdict


def _results(
    *,
    rate: float | None = 200.0,
    p99: float = 80.0,
    share: float = 0.3,
    cpu: float = 6.0,
    rss: float = 100.0,
    with_intake: bool = True,
) -> dict[str, Any]:
    intake = {
        "targets": [
            {"name": "max accepted applications/s", "measured": rate, "target": ">= 1000 /s"},
            {"name": "p99 latency at 500/s", "measured": p99, "target": "<= 50 ms"},
        ],
        "ratio": {"max_accept_rate_vs_raw": share},
        "bound_by": {
            "cores_busy_intake-closed-loop": {"intake-api": 0.9},  # no direction: left out
            "cpu_ms_per_application_intake-closed-loop": {
                "bench-intake-api": cpu,
                "total": cpu + 1,
                "ceiling_per_s": 2000 / (cpu + 1),
            },
        },
    }
    downstream = {"targets": [], "ratio": {"drains": {"tracking": 0.2}}, "bound_by": {}}
    return {
        "run_id": "bench1",
        "benchmarks": {**({"intake": intake} if with_intake else {}), "downstream": downstream},
        "memory": {"per_process": {"postgres": {"at_rest": rss, "peak": rss * 2}}},
    }


def _row(rows: list[Any], figure: str) -> Any:
    return next(r for r in rows if figure in r.figure)


def test_figures_cover_targets_ratios_cpu_and_memory_with_their_direction() -> None:
    found = {(f.benchmark, f.name): f.better for f in figures(_results())}
    assert found == {
        ("intake", "target max accepted applications/s (>= 1000 /s)"): "higher",
        ("intake", "target p99 latency at 500/s (<= 50 ms)"): "lower",
        ("intake", "ratio max_accept_rate_vs_raw"): "higher",
        ("intake", "cpu_ms_per_application_intake-closed-loop bench-intake-api"): "lower",
        ("intake", "cpu_ms_per_application_intake-closed-loop total"): "lower",
        ("intake", "cpu_ms_per_application_intake-closed-loop ceiling_per_s"): "higher",
        ("downstream", "ratio drains.tracking"): "higher",
        ("memory", "postgres MiB at rest"): "lower",
        ("memory", "postgres MiB peak"): "lower",
    }


def test_worse_is_judged_in_each_figures_direction() -> None:
    rows = compare(_results(), _results(rate=150.0, p99=40.0, cpu=8.0, rss=90.0))
    assert _row(rows, "max accepted").verdict == "worse"  # lower rate
    assert _row(rows, "p99 latency").verdict == "better"  # lower latency
    assert _row(rows, "bench-intake-api").verdict == "worse"  # more CPU
    assert _row(rows, "ceiling_per_s").verdict == "worse"  # a lower ceiling
    assert _row(rows, "MiB at rest").verdict == "better"
    assert _row(rows, "max_accept_rate_vs_raw").verdict == "same"
    assert _row(rows, "max accepted").change_pct == -25.0


def test_figures_of_one_file_only_are_new_or_gone() -> None:
    rows = compare(_results(with_intake=False), _results(rate=None))
    assert _row(rows, "max accepted").verdict == "not measured"
    assert _row(rows, "p99 latency").verdict == "new"
    rows = compare(_results(), _results(with_intake=False))
    assert _row(rows, "p99 latency").verdict == "gone"
    assert rows[-1].benchmark == "intake"  # the old file's own figures come last


def test_tolerance_keeps_noise_the_same() -> None:
    assert verdict(100.0, 96.0, "higher", 5.0) == "same"
    assert verdict(100.0, 94.0, "higher", 5.0) == "worse"
    assert verdict(100.0, 94.0, "lower", 5.0) == "better"
    assert verdict(0.0, 1.0, "lower", 5.0) == "worse"


def test_change_is_relative_to_the_old_value() -> None:
    assert change_pct(200.0, 150.0) == -25.0
    assert change_pct(-2.0, -1.0) == 50.0
    assert change_pct(0.0, 1.0) is None
    assert change_pct(None, 1.0) is None


def test_memory_of_files_before_per_process_is_compared_too() -> None:
    old = {"benchmarks": {}, "memory": {"at_rest": {"kafka": 400.0}, "peak_under_load": {}}}
    rows = compare(old, _results())
    assert _row(rows, "kafka MiB at rest").verdict == "gone"
    assert _row(rows, "kafka MiB peak").verdict == "not measured"


def test_cli_writes_json_with_the_verdicts(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_results()))
    new.write_text(json.dumps(_results(rate=100.0)))
    answer = CliRunner().invoke(cli, ["compare", str(old), str(new), "--json"])
    assert answer.exit_code == 0, answer.output
    document = json.loads(answer.output)
    assert document["verdicts"] == tally(compare(_results(), _results(rate=100.0)))
    assert document["verdicts"]["worse"] == 1
    worse = [r for r in document["rows"] if r["verdict"] == "worse"]
    assert worse[0]["old"] == 200.0 and worse[0]["new"] == 100.0


def test_cli_table_runs(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_results()))
    answer = CliRunner().invoke(cli, ["compare", str(old), str(old)])
    assert answer.exit_code == 0, answer.output
    assert "bench1 → bench1" in answer.output
    assert answer.output.rstrip().endswith("9 same")  # every figure, none changed


@pytest.mark.parametrize("args", [["--help"], ["--quick", "--only", "nothing"]])
def test_the_run_stays_the_default_command(args: list[str]) -> None:
    answer = CliRunner().invoke(cli, args)
    if args == ["--help"]:
        assert answer.exit_code == 0 and "compare" in answer.output
    else:  # parsed as the run's options, refused before anything runs
        assert answer.exit_code == 2
        assert "unknown benchmarks: nothing" in answer.output
