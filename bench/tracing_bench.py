"""Benchmark: what exporting traces costs, against the same system with tracing off.

Every process of the running system is restarted three times, each time fresh: tracing
off, then every span exported over OTLP/HTTP to a local receiver (bench/otlp_receiver.py,
standing in for a collector), then off again (also on error or Ctrl-C, so the system is
left as it was). The same bounded end-to-end load (a short warm-up, then `TRACING_RATE`
applications/s for the plan's e2e seconds, below the machine's ceiling) runs once after
each untraced start and twice after the traced one, and the CPU each application costs
over the service processes is measured from /proc.

Throughput with tracing is the ceiling that CPU allows (cores / CPU per application):
the ratio is the ceiling of the cheaper traced run to that of the cheaper untraced one.
Two runs on each side, the cheaper of each: a burst of work that is not the
application's (an autovacuum, a checkpoint of Postgres, a timer burst in Temporal) lands
in a window of a few seconds now and then, and with one traced run against the cheaper of
two untraced ones it could only ever count against tracing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.config import REPO
from bench.context import Run
from bench.load import open_loop
from bench.quiesce import wait_until_quiet
from bench.report import Section, Target
from bench.services import services
from bench.stats import summarize
from bench.workflow_bench import wait_for_timelines
from onceonly.platform.db import create_pool

PROCFILE = REPO / "deploy" / "local" / "Procfile"
# Below the ceiling of this 2-core machine (about 10 applications/s): a rate above it
# would measure queues, not the cost of a span.
TRACING_RATE = 6
WARM_UP_SECONDS = 3.0
RECEIVER_PORT = 14318
# Not part of the system whose cost is compared.
_NOT_SYSTEM = ("bench", "otlp-receiver", "total", "ceiling_per_s")
# Shared with anything else on the machine (a test run's connections count as Postgres's),
# and untouched by spans: the ratio is also given over the services' own processes.
_INFRASTRUCTURE = ("postgres", "kafka", "temporal")


def procfile_names() -> list[str]:
    names = []
    for line in PROCFILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            names.append(line.split(":", 1)[0].strip())
    return names


def tracing_env(on: bool) -> dict[str, str]:
    """The environment the services are restarted with (a variable set in the
    environment wins over deploy/local/env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if on:
        env |= {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{RECEIVER_PORT}/v1/traces",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    return env


async def restart_all(run: Run, *, tracing: bool) -> None:
    """Every process restarted with tracing on or off, then every service healthy; the
    monitor follows the new pids."""
    env = tracing_env(tracing)
    for name in procfile_names():
        await services("restart", name, env=env)
    await services("up", env=env)  # (the monitor follows the new pids by their pid files)


def system_cpu_ms(per_item: dict[str, float], *, without: tuple[str, ...] = ()) -> float:
    excluded = (*_NOT_SYSTEM, *without)
    return round(sum(v for k, v in per_item.items() if k not in excluded), 3)


async def _measured(run: Run, label: str) -> dict[str, object]:
    """Warm-up, idle wait, then the measured load and its drain."""
    plan = run.plan
    statuses: dict[int | str, int] = {}
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        step = run.step(f"tracing {label}: warm-up")
        await open_loop(
            run.submitter(f"tracing-{label}-warm-up", statuses),
            rate=TRACING_RATE,
            seconds=WARM_UP_SECONDS,
            tick=step,
        )
        await wait_for_timelines(
            run, pool, run.accepted.get(f"tracing-{label}-warm-up", []), "completed", step
        )
        await wait_until_quiet(run, within=plan.settle_seconds, what=f"tracing {label}")
        phase_name = f"tracing-{label}"
        step = run.step(f"tracing {label}: {TRACING_RATE} applications/s")
        run.monitor.begin(phase_name)
        load = await open_loop(
            run.submitter(phase_name, statuses),
            rate=TRACING_RATE,
            seconds=plan.e2e_seconds,
            tick=step,
        )
        accepted = run.accepted.get(phase_name, [])
        step = run.step(f"tracing {label}: waiting for the timelines")
        marks = await wait_for_timelines(run, pool, accepted, "completed", step)
        run.monitor.end()
    finally:
        await pool.close()
    phase = run.monitor.phase(phase_name)
    assert phase is not None
    per_item = run.monitor.cpu_per_item(phase, len(accepted))
    delays = [
        marks[a.code]["accepted"] - a.at for a in accepted if "accepted" in marks.get(a.code, {})
    ]
    system = system_cpu_ms(per_item)
    cores = os.cpu_count() or 1
    return {
        "accepted": len(accepted),
        "failed": load.failed,
        "reached_timeline": len(delays),
        "accepted_to_workflow_accepted_in_timeline": summarize(delays).as_dict(),
        "cpu_ms_per_application": per_item,
        "system_cpu_ms_per_application": system,
        "services_cpu_ms_per_application": system_cpu_ms(per_item, without=_INFRASTRUCTURE),
        "ceiling_per_s": round(cores * 1000 / system, 2) if system else None,
        "http_statuses": {str(k): v for k, v in statuses.items()},
    }


def _receiver(stats: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.otlp_receiver",
            "--port",
            str(RECEIVER_PORT),
            "--stats",
            str(stats),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _read_stats(stats: Path) -> dict[str, object]:
    try:
        return json.loads(stats.read_text())
    except (OSError, ValueError):
        return {}


UNTRACED = ("off_1", "off_2")
EXPORTED = ("exported_1", "exported_2")


def cheapest(runs: dict[str, dict[str, object]], names: tuple[str, ...], measure: str) -> float:
    """The lowest CPU per application `measure` among the runs `names`."""
    return min(float(runs[name][measure]) for name in names)  # type: ignore[arg-type]


def traced_ratio(runs: dict[str, dict[str, object]], measure: str) -> float | None:
    """Throughput with traces exported against without: the cheaper untraced run's CPU
    per application over the cheaper traced run's (the ceilings' ratio)."""
    on = cheapest(runs, EXPORTED, measure)
    return round(cheapest(runs, UNTRACED, measure) / on, 3) if on > 0 else None


async def _three_runs(
    run: Run, runs: dict[str, dict[str, object]], stats: Path
) -> tuple[dict[str, object], dict[str, object]]:
    """Off, exported twice, off; the receiver's counts before and after the exported
    runs."""
    try:
        step = run.step("tracing: restarting every process, tracing off")
        await restart_all(run, tracing=False)
        step.done()
        runs["off_1"] = await _measured(run, "off-1")
        step = run.step("tracing: restarting every process, traces exported")
        await restart_all(run, tracing=True)
        step.done()
        before = _read_stats(stats)
        runs["exported_1"] = await _measured(run, "exported-1")
        runs["exported_2"] = await _measured(run, "exported-2")
        await asyncio.sleep(6.0)  # the batch span processors' delay (5 s) and send
        after = _read_stats(stats)
    finally:
        # Whatever happened, the system is left as deploy/local/env says: tracing off.
        step = run.step("tracing: restarting every process, tracing off")
        await asyncio.shield(restart_all(run, tracing=False))
        step.done()
    runs["off_2"] = await _measured(run, "off-2")
    return before, after


async def run_tracing(run: Run) -> Section:
    section = Section("tracing")
    runs: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="otlp-") as scratch:
        stats = Path(scratch) / "stats.json"
        receiver = _receiver(stats)
        try:
            run.monitor.add("otlp-receiver", receiver.pid, at_rest=True)
            before, after = await _three_runs(run, runs, stats)
        finally:
            receiver.terminate()
            receiver.wait(10)
            run.monitor.remove("otlp-receiver")
    accepted = sum(int(runs[name]["accepted"]) for name in EXPORTED)  # type: ignore[call-overload]
    spans = int(after.get("spans", 0)) - int(before.get("spans", 0))
    section.system = {
        "rate_per_s": TRACING_RATE,
        "seconds": run.plan.e2e_seconds,
        "runs": runs,
        "receiver": {
            "spans_during_exported_runs": spans,
            "spans_per_application": round(spans / max(1, accepted), 1),
            "totals": after,
        },
    }
    section.raw = {
        "what": "the same system and load with tracing off (spans made as their ids only, none"
        " recorded or exported):"
        " the cheaper of a run before and a run after; the traced side is the cheaper of"
        " two traced runs",
        "system_cpu_ms_per_application": round(
            cheapest(runs, UNTRACED, "system_cpu_ms_per_application"), 3
        ),
        "services_cpu_ms_per_application": round(
            cheapest(runs, UNTRACED, "services_cpu_ms_per_application"), 3
        ),
    }
    ratio = traced_ratio(runs, "system_cpu_ms_per_application")
    section.ratio = {
        "throughput_traced_vs_untraced": ratio,
        "services_only_traced_vs_untraced": traced_ratio(runs, "services_cpu_ms_per_application"),
    }
    section.targets = [Target("throughput traced / untraced (CPU ceiling)", ratio, ">=", 0.85, "")]
    if spans <= 0:
        section.notes.append("The receiver got no span during the traced run: the ratio is void.")
        section.targets = [
            Target("throughput traced / untraced (CPU ceiling)", None, ">=", 0.85, "")
        ]
    return section
