"""The state of the local system when a run begins, so that two runs are compared on
like terms: the size of the Temporal dev server's SQLite store and how long the services
have been up. Both moved the CPU per application by a fifth or more on 2026-12-06
(docs/performance.md, rounds C and D of the afternoon): a store of 1.1 GB made every
workflow slower, and a run within minutes of `make up` met a cold Kafka. They are written
into the results and warned about, not corrected for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import PIDS
from bench.monitor import age_seconds, service_pids

# deploy/local keeps its pid files and the Temporal store here (RUN_DIR).
RUN_DIR = PIDS.parent
STORE_WARN_BYTES = 500 * 1024 * 1024
WARM_AFTER_SECONDS = 60.0


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
        "temporal_store_bytes": store,
        "process_age_seconds": {name: round(age) for name, age in ages.items()},
        "warnings": warnings,
    }
