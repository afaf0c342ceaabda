"""The state of the local system when a run begins, so that two runs are compared on
like terms: the size of the Temporal dev server's SQLite store and how long the services
have been up. Both moved the CPU per application by a fifth or more on 2026-12-06
(docs/performance.md, rounds C and D of the afternoon): a store of 1.1 GB made every
workflow slower, and a run within minutes of `make up` met a cold Kafka. They are written
into the results and warned about, not corrected for.

And the machine: its CPU model and how long it takes to run one fixed loop of Python.
The same intake code cost 1.21 ms of CPU per application in the evening's plan of
2026-12-06 and 2.08 ms in the night's, on another machine of the same kind
(docs/performance.md), so `bench compare` says when two files' loops differ."""

from __future__ import annotations

import timeit
from pathlib import Path
from typing import Any

from bench.config import PIDS
from bench.monitor import age_seconds, service_pids

# deploy/local keeps its pid files and the Temporal store here (RUN_DIR).
RUN_DIR = PIDS.parent
STORE_WARN_BYTES = 500 * 1024 * 1024
WARM_AFTER_SECONDS = 60.0
# Two runs' loops further apart than this are on machines not to be compared.
MACHINES_DIFFER_PCT = 15.0


def _loop() -> int:
    """The interpreter's own work: bytecode, integers and a branch, no C-level bulk."""
    total = 0
    for number in range(100_000):
        if number % 3:
            total += number
    return total


def machine() -> dict[str, Any]:
    """The CPU's model name and the best of five runs of `_loop`, in ms."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    best = min(timeit.repeat(_loop, number=1, repeat=5))
    return {"cpu_model": model, "python_loop_ms": round(best * 1000, 2)}


def machines_differ(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Why two results files' CPU figures are not comparable, if their machines ran the
    loop more than MACHINES_DIFFER_PCT apart; None when they did not, or a file has no
    such reading (written before it was recorded)."""
    before = ((old.get("conditions") or {}).get("machine") or {}).get("python_loop_ms")
    after = ((new.get("conditions") or {}).get("machine") or {}).get("python_loop_ms")
    if not before or not after:
        return None
    if abs(after - before) / before * 100 <= MACHINES_DIFFER_PCT:
        return None
    return (
        f"the machines differ: the same loop of Python took {before} ms in the old run and"
        f" {after} ms in the new one, so CPU costs and rates are not comparable"
    )


def conditions(run_dir: Path = RUN_DIR) -> dict[str, Any]:
    """The store's size, the age in seconds of each process with a pid file (services
    and infrastructure; left out when not running) and the warnings they give."""
    store = sum(
        path.stat().st_size
        for path in (run_dir / "temporal").glob("temporal.db*")
        if path.is_file()
    )
    ages = {
        name: age
        for name, pid in service_pids(run_dir / "pids").items()
        if (age := age_seconds(pid)) is not None
    }
    warnings = []
    if store > STORE_WARN_BYTES:
        warnings.append(
            f"the Temporal store is {store / 2**20:,.0f} MiB: workflows run slower on a large"
            " store (`make reset-temporal` empties it)"
        )
    young = sorted(name for name, age in ages.items() if age < WARM_AFTER_SECONDS)
    if young:
        warnings.append(
            f"up for less than {WARM_AFTER_SECONDS:.0f} s: {', '.join(young)}; a first run"
            " after a start meets cold processes (run one `--quick --only workflow` first)"
        )
    return {
        "machine": machine(),
        "temporal_store_bytes": store,
        "process_age_seconds": {name: round(age) for name, age in ages.items()},
        "warnings": warnings,
    }
