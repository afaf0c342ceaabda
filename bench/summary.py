"""The readable summary of a run: one row per figure that has a target or a ratio, each
process's memory and the run's cleanup; and the table of a comparison of two runs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bench.compare import Row, tally

_VERDICT_STYLE = {"better": "green", "worse": "bold red", "gone": "yellow", "new": "cyan"}


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
    for warning in (results.get("conditions") or {}).get("warnings", []):
        console.print(f"[yellow]Measured with a warning: {warning}[/yellow]")
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


def print_comparison(
    console: Console, rows: list[Row], *, old: str | None, new: str | None
) -> None:
    table = Table(title=f"Benchmarks compared: {old or 'old'} → {new or 'new'}")
    table.add_column("benchmark")
    table.add_column("figure")
    table.add_column("better")
    table.add_column("old", justify="right")
    table.add_column("new", justify="right")
    table.add_column("change", justify="right")
    table.add_column("")
    for row in rows:
        style = _VERDICT_STYLE.get(row.verdict)
        change = "—" if row.change_pct is None else f"{row.change_pct:+.1f} %"
        table.add_row(
            row.benchmark,
            row.figure,
            row.better,
            _fmt(row.old),
            _fmt(row.new),
            change,
            row.verdict,
            style=style,
        )
    console.print(table)
    counts = tally(rows)
    console.print(", ".join(f"{n} {verdict}" for verdict, n in sorted(counts.items())))
