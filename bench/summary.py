"""The readable summary of a run: one row per figure that has a target or a ratio, each
process's memory and the run's cleanup."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_summary(console: Console, results: dict[str, Any]) -> None:
    table = Table(title=f"Once-Only benchmarks ({results['mode']}, run {results['run_id']})")
    table.add_column("benchmark")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target")
    table.add_column("met")
    for name, section in results["benchmarks"].items():
        if section.get("error"):
            table.add_row(name, "error", section["error"][:60], "", "[red]✗[/red]")
            continue
        for target in section["targets"]:
            met = {True: "[green]✓[/green]", False: "[red]✗[/red]", None: "?"}[target["met"]]
            table.add_row(name, target["name"], _fmt(target["measured"]), target["target"], met)
        for figure, value in section["ratio"].items():
            table.add_row(name, f"ratio {figure}", _fmt(value), "", "")
    console.print(table)
    per_process = (results.get("memory") or {}).get("per_process") or {}
    if per_process:
        mem = Table(title="Resident memory per process, one replica each (MiB)")
        mem.add_column("process")
        mem.add_column("at rest", justify="right")
        mem.add_column("peak under load", justify="right")
        for process, found in per_process.items():
            mem.add_row(process, _fmt(found.get("at_rest")), _fmt(found.get("peak")))
        console.print(mem)
    cleanup = results.get("cleanup")
    if cleanup:
        console.print(
            f"Cleanup: waited {_fmt(cleanup.get('waited_s'))} s; of the run's applications"
            f" through the running system {cleanup.get('completed', 0):,} closed,"
            f" {cleanup.get('terminated', 0):,} terminated,"
            f" {cleanup.get('not_started', 0):,} not started yet."
        )
    for name, section in results["benchmarks"].items():
        for process, found in ((section.get("profile") or {}).get("processes") or {}).items():
            if found.get("error"):
                console.print(f"{name} profile of {process}: {found['error']}")
                continue
            top = Table(title=f"{name}: py-spy profile of {process} ({found['samples']} samples)")
            top.add_column("own", justify="right")
            top.add_column("function (most samples of its own)")
            for row in found["by_own"][:8]:
                top.add_row(f"{row['share']:.0%}", row["function"])
            console.print(top)

