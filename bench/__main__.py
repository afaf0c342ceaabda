"""`python -m bench [--quick] [--only intake,relay,...] [--open-tasks N] [--due-tasks M]`

Runs the benchmarks against the running local system (deploy/local) and writes
bench/results/latest.json (and a copy named after the run), then prints a summary. The
intake benchmark runs on a scratch intake of its own; after each benchmark that
submitted applications through the running system, their workflows are waited for and
any still running terminated (the JSON's `cleanup`).

`python -m bench compare OLD.json NEW.json [--json]`: every figure with a direction,
old against new, the regressions in red.
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

from bench.cleanup import add_up, drain_and_clean
from bench.compare import compare as compare_results
from bench.compare import tally
from bench.conditions import conditions, machines_differ
from bench.config import RESULTS, Endpoints, Plan, plan
from bench.context import Run
from bench.integrators import bench_keys, keys_needed
from bench.monitor import ProcessMonitor
from bench.quiesce import wait_until_quiet
from bench.report import Section
from bench.summary import print_comparison, print_summary

# Supervision last: its thousands of scratch workflows close by their execution timeout
# minutes after it, Temporal's work that a later benchmark would count as its own.
BENCHMARKS = ("intake", "relay", "workflow", "downstream", "tracing", "supervision")

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
        "conditions": conditions(),
        "benchmarks": {},
    }
    machine = results["conditions"]["machine"]
    console.print(
        f"machine: {machine['cpu_model'] or 'CPU model unknown'}, {_cpus()} cores, the"
        f" conditions' loop of Python in {machine['python_loop_ms']} ms"
    )
    for warning in results["conditions"]["warnings"]:
        console.print(f"[yellow]warning: {warning}[/yellow]")
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
        bench_keys(endpoints.database_url, _running_keys(the_plan)) as keys,
        aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30.0)
        ) as http,
    ):
        monitor.sample_rest()
        run = Run(endpoints, the_plan, keys, http, monitor, progress)
        cleanups: dict[str, dict[str, object]] = {}
        with progress:
            try:
                for name in selected:
                    try:
                        # Each benchmark starts on an idle system, not on the last one's
                        # backlog.
                        results.setdefault("idle_before", {})[name] = await wait_until_quiet(
                            run, within=the_plan.quiesce_seconds, what=name
                        )
                        section = await _benchmark(name)(run)
                    except Exception as exc:
                        section = Section(name, error=f"{type(exc).__name__}: {exc}")
                        console.print(f"[red]{name} failed[/red]\n{traceback.format_exc()}")
                    results["benchmarks"][name] = section.as_dict()
                    # A benchmark's applications through the running system are done
                    # with before the next one starts (and before the run ends).
                    await _clean_after(run, name, cleanups)
            except BaseException:
                # Ctrl-C: what the run left running is terminated at once, not waited for.
                await asyncio.shield(_clean_after(run, "interrupted", cleanups, wait=False))
                raise
        results["cleanup"] = {**add_up(cleanups.values()), "by_benchmark": cleanups}
        results["memory"] = monitor.report()
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return results


def _running_keys(the_plan: Plan) -> int:
    """Keys for the load through the running intake: the e2e rate, and the burst, each
    key taking at most 80 % of intake's burst allowance of 50 (so none is refused)."""
    return max(keys_needed(the_plan.e2e_rate), -(-the_plan.burst_applications // 40), 1)


async def _clean_after(
    run: Run, name: str, cleanups: dict[str, dict[str, object]], *, wait: bool = True
) -> None:
    """Drain and clean the applications submitted through the running system since the
    last cleanup (none: nothing to do)."""
    fresh = [a for phase in run.accepted.values() for a in phase if a.code not in run.cleaned]
    if not fresh:
        return
    codes = {a.code for a in fresh}
    try:
        cleanups[name] = await drain_and_clean(
            run, codes, since=min(a.at for a in fresh), what=f"{name}: cleanup", wait=wait
        )
    except Exception as exc:
        cleanups[name] = {"error": f"{type(exc).__name__}: {exc}"}
        console.print(f"[red]cleanup after {name} failed[/red]\n{traceback.format_exc()}")
    run.cleaned |= codes


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


@cli.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
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
        None,
        "--e2e-rate",
        help="Workflow: applications/s of the end-to-end phase (15, the issue's target)",
    ),
    output: Path = typer.Option(RESULTS / "latest.json", "--output", help="Where the JSON goes"),
) -> None:
    """Benchmark the running system against its components' raw limits (without a
    command); `compare` compares two results files."""
    if ctx.invoked_subcommand is not None:
        return
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


@cli.command()
def compare(
    old: Path = typer.Argument(..., exists=True, dir_okay=False, help="The earlier results"),
    new: Path = typer.Argument(..., exists=True, dir_okay=False, help="The later results"),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout instead of a table"),
    tolerance: float = typer.Option(
        0.0, "--tolerance", min=0.0, help="Changes within this % of the old value are 'same'"
    ),
) -> None:
    """Every figure with a target, a ratio, a CPU cost or a memory size: old, new, the
    change, and whether it is worse in the figure's direction (red)."""
    before = json.loads(old.read_text())
    after = json.loads(new.read_text())
    rows = compare_results(before, after, tolerance_pct=tolerance)
    differ = machines_differ(before, after)
    if as_json:
        document = {
            "old": {"file": str(old), "run_id": before.get("run_id")},
            "new": {"file": str(new), "run_id": after.get("run_id")},
            "machines_differ": differ,
            "tolerance_pct": tolerance,
            "verdicts": tally(rows),
            "rows": [row.as_dict() for row in rows],
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    print_comparison(console, rows, old=before.get("run_id"), new=after.get("run_id"))
    if differ:
        console.print(f"[yellow]warning: {differ}[/yellow]")


if __name__ == "__main__":
    cli()
