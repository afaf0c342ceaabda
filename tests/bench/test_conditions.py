"""The run's conditions: the Temporal store's size and the processes' ages, read from a
run directory laid out as deploy/local lays out .run/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench.conditions import (
    STORE_WARN_BYTES,
    WARM_AFTER_SECONDS,
    conditions,
    machine,
    machines_differ,
)


def run_dir(tmp_path: Path, *, store_bytes: int, pids: dict[str, int]) -> Path:
    (tmp_path / "temporal").mkdir()
    (tmp_path / "temporal" / "temporal.db").write_bytes(b"")
    os.truncate(tmp_path / "temporal" / "temporal.db", store_bytes)
    (tmp_path / "temporal" / "temporal.db-wal").write_bytes(b"w" * 10)
    (tmp_path / "pids").mkdir()
    for name, pid in pids.items():
        (tmp_path / "pids" / f"{name}.pid").write_text(f"{pid}\n")
    return tmp_path


def test_a_small_store_and_an_old_process_give_no_warning(tmp_path: Path) -> None:
    # pid 1 has been up since the machine started: older than any warm-up.
    if float(Path("/proc/uptime").read_text().split()[0]) < WARM_AFTER_SECONDS:
        pytest.skip("the machine itself started less than a warm-up ago")
    found = conditions(run_dir(tmp_path, store_bytes=1000, pids={"temporal": 1}))
    assert found["temporal_store_bytes"] == 1010
    assert set(found["process_age_seconds"]) == {"temporal"}
    assert found["warnings"] == []


def test_a_large_store_and_a_young_process_are_warned_about(tmp_path: Path) -> None:
    young = subprocess.Popen(["sleep", "30"])  # started just now
    try:
        found = conditions(
            run_dir(tmp_path, store_bytes=STORE_WARN_BYTES + 1, pids={"notify": young.pid})
        )
    finally:
        young.kill()
        young.wait()
    assert found["process_age_seconds"]["notify"] < WARM_AFTER_SECONDS
    [store, young] = found["warnings"]
    assert "Temporal store" in store
    assert "notify" in young


def test_a_process_not_running_is_left_out(tmp_path: Path) -> None:
    found = conditions(run_dir(tmp_path, store_bytes=0, pids={"kafka": 2**22 + 12345}))
    assert found["process_age_seconds"] == {}
    assert found["warnings"] == []


def test_the_machine_is_read_and_timed() -> None:
    found = machine()
    assert found["python_loop_ms"] > 0
    assert isinstance(found["cpu_model"], str)
    assert conditions(Path("/nonexistent"))["machine"].keys() == found.keys()


def _results(loop_ms: float | None) -> dict[str, object]:
    machine_reading = {} if loop_ms is None else {"python_loop_ms": loop_ms}
    return {"conditions": {"machine": machine_reading}}


def test_machines_a_fifth_apart_are_not_compared() -> None:
    assert machines_differ(_results(10.0), _results(11.0)) is None
    differ = machines_differ(_results(10.0), _results(12.5))
    assert differ is not None and "10.0 ms" in differ and "12.5 ms" in differ
    assert machines_differ(_results(12.5), _results(10.0)) is not None
    # A file written before the machine was recorded says nothing either way.
    assert machines_differ({}, _results(10.0)) is None
    assert machines_differ(_results(None), _results(10.0)) is None
