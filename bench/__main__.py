"""`python -m bench [--quick] [--only intake,relay,...] [--open-tasks N] [--due-tasks M]`

Runs the benchmarks against the running local system (deploy/local) and writes
bench/results/latest.json (and a copy named after the run), then prints a summary.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import platform
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.config import RESULTS, Endpoints, plan
from bench.context import Run
from bench.integrators import bench_keys, keys_needed
from bench.monitor import ProcessMonitor
from bench.quiesce import wait_until_quiet
from bench.report import Section
from bench.summary import print_summary

BENCHMARKS = ("intake", "relay", "workflow", "downstream", "supervision")

cli = typer.Typer(add_completion=False, help=__doc__)
console = Console()


def _benchmark(name: str) -> Callable[[Run], Awaitable[Section]]:
    # Imported when selected, so that `--help` stays fast.
    module = importlib.import_module(f"bench.{name}_bench")
    return getattr(module, f"run_{name}")


async def _main(
    selected: list[str],
    quick: bool,
    open_tasks: int | None,
    due_tasks: int | None = None,
    deadline_spread: float | None = None,
    e2e_rate: int | None = None,
) -> dict[str, Any]:
    the_plan = plan(
        quick=quick,
        open_tasks=open_tasks,
        due_tasks=due_tasks,
        deadline_spread=deadline_spread,
        e2e_rate=e2e_rate,
    )
    endpoints = Endpoints()
    results: dict[str, Any] = {
        "run_id": the_plan.run_id,
        "mode": the_plan.mode,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": _cpus(), "python": platform.python_version()},
        "plan": {k: v for k, v in vars(the_plan).items() if k != "run_id"},
        "benchmarks": {},
    }
    peak = max(the_plan.intake_rate * 4, the_plan.e2e_rate)
    progress = Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    )
    # aiohttp, not httpx: on these shared cores the load generator's CPU per request is
    # taken from the system under test (httpx's pool cost more than intake's handler).
    # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) closes them
    # under a request sent on them (ServerDisconnectedError between phases).
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=2.0)
    async with (
        ProcessMonitor() as monitor,
        bench_keys(endpoints.database_url, keys_needed(peak)) as keys,
        aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30.0)
        ) as http,
    ):
        monitor.sample_rest()
        run = Run(endpoints, the_plan, keys, http, monitor, progress)
        with progress:
            for name in selected:
                try:
                    # Each benchmark starts on an idle system, not on the last one's backlog.
                    results.setdefault("idle_before", {})[name] = await wait_until_quiet(
                        run, within=the_plan.quiesce_seconds, what=name
                    )
                    section = await _benchmark(name)(run)
                except Exception as exc:
                    section = Section(name, error=f"{type(exc).__name__}: {exc}")
                    console.print(f"[red]{name} failed[/red]\n{traceback.format_exc()}")
                results["benchmarks"][name] = section.as_dict()
        results["memory"] = monitor.report()
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return results


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


@cli.command()
def main(
    quick: bool = typer.Option(False, "--quick", help="About 3 minutes in all"),
    only: str = typer.Option(
        ",".join(BENCHMARKS), "--only", help="Comma-separated: " + ", ".join(BENCHMARKS)
    ),
    open_tasks: int | None = typer.Option(
        None, "--open-tasks", help="Supervision: open tasks (1,000 quick, 10,000 full)"
    ),
    due_tasks: int | None = typer.Option(
        None, "--due-tasks", help="Supervision: of the open tasks, how many fall due (all)"
    ),
    deadline_spread: float | None = typer.Option(
        None, "--deadline-spread", help="Supervision: seconds the deadlines spread over"
    ),
    e2e_rate: int | None = typer.Option(
        None, "--e2e-rate", help="Workflow: applications/s of the end-to-end phase (100)"
    ),
    output: Path = typer.Option(RESULTS / "latest.json", "--output", help="Where the JSON goes"),
) -> None:
    """Benchmark the running system against its components' raw limits."""
    selected = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        raise typer.BadParameter(f"unknown benchmarks: {', '.join(unknown)}", param_hint="--only")
    results = asyncio.run(_main(selected, quick, open_tasks, due_tasks, deadline_spread, e2e_rate))
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False, default=str)
    output.write_text(text + "\n")
    (output.parent / f"{results['run_id']}.json").write_text(text + "\n")
    print_summary(console, results)
    console.print(f"\nWritten to {output}")


if __name__ == "__main__":
    cli()
