"""Comparing two results files (`python -m bench compare OLD.json NEW.json`): every
figure that has a direction (a target's, a ratio, the CPU an application costs per
process and its ceiling, each process's memory), old against new, and whether the change
is for the better or the worse in that direction. Pure: dictionaries in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Better = Literal["higher", "lower"]
Verdict = Literal["better", "worse", "same", "new", "gone", "not measured"]


@dataclass(frozen=True)
class Figure:
    benchmark: str
    name: str
    value: float | None
    better: Better


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    old: float | None
    new: float | None
    better: Better
    change_pct: float | None  # (new - old) / |old|, in %; None when old is 0 or missing
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _target_direction(target: str) -> Better | None:
    text = target.strip()
    if text.startswith(">="):
        return "higher"
    if text.startswith("<="):
        return "lower"
    return None


def _ratios(benchmark: str, prefix: str, ratios: Mapping[str, Any]) -> Iterator[Figure]:
    for name, value in ratios.items():
        if isinstance(value, Mapping):  # a benchmark with one ratio per consumer
            yield from _ratios(benchmark, f"{prefix}{name}.", value)
        else:
            yield Figure(benchmark, f"ratio {prefix}{name}", _number(value), "higher")


def _cpu(benchmark: str, key: str, per_process: Mapping[str, Any]) -> Iterator[Figure]:
    for process, value in per_process.items():
        # The ceiling is the rate that CPU cost allows: the more the better.
        better: Better = "higher" if process == "ceiling_per_s" else "lower"
        yield Figure(benchmark, f"{key} {process}", _number(value), better)


def _memory(memory: Mapping[str, Any]) -> Iterator[Figure]:
    per_process = memory.get("per_process")
    if not isinstance(per_process, Mapping):
        # Files written before per_process: the two maps of the same figures.
        rest = memory.get("at_rest") or {}
        peak = memory.get("peak_under_load") or {}
        per_process = {
            name: {"at_rest": rest.get(name), "peak": peak.get(name)}
            for name in sorted({*rest, *peak})
        }
    for process, found in per_process.items():
        for when in ("at_rest", "peak"):
            value = _number(found.get(when)) if isinstance(found, Mapping) else None
            yield Figure("memory", f"{process} MiB {when.replace('_', ' ')}", value, "lower")


def figures(results: Mapping[str, Any]) -> list[Figure]:
    """Every figure of a results file that has a direction, in the file's order."""
    found: list[Figure] = []
    for benchmark, section in (results.get("benchmarks") or {}).items():
        if not isinstance(section, Mapping):
            continue
        for target in section.get("targets") or []:
            better = _target_direction(str(target.get("target", "")))
            if better is not None:
                found.append(
                    Figure(
                        benchmark,
                        f"target {target['name']} ({target['target']})",
                        _number(target.get("measured")),
                        better,
                    )
                )
        found.extend(_ratios(benchmark, "", section.get("ratio") or {}))
        for key, value in (section.get("bound_by") or {}).items():
            if key.startswith("cpu_ms_per_") and isinstance(value, Mapping):
                found.extend(_cpu(benchmark, key, value))
    found.extend(_memory(results.get("memory") or {}))
    return found


def verdict(old: float | None, new: float | None, better: Better, tolerance_pct: float) -> Verdict:
    """Better or worse in the figure's direction; a change within `tolerance_pct` of the
    old value (the runs' noise) is the same."""
    if old is None and new is None:
        return "not measured"
    if old is None:
        return "new"
    if new is None:
        return "gone"
    margin = abs(old) * tolerance_pct / 100
    if abs(new - old) <= margin:
        return "same"
    higher = new > old
    return "better" if higher == (better == "higher") else "worse"


def change_pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or old == 0:
        return None
    return round(100 * (new - old) / abs(old), 1)


def compare(
    old: Mapping[str, Any], new: Mapping[str, Any], *, tolerance_pct: float = 0.0
) -> list[Row]:
    """One row per figure of either file: those of the new file in its order, then
    those only the old one has."""
    before = {(f.benchmark, f.name): f for f in figures(old)}
    after = {(f.benchmark, f.name): f for f in figures(new)}
    rows: list[Row] = []
    for key in [*after, *(k for k in before if k not in after)]:
        o, n = before.get(key), after.get(key)
        better = (n or o).better  # type: ignore[union-attr]  # one of them exists
        old_value = o.value if o else None
        new_value = n.value if n else None
        rows.append(
            Row(
                benchmark=key[0],
                figure=key[1],
                old=old_value,
                new=new_value,
                better=better,
                change_pct=change_pct(old_value, new_value),
                verdict=verdict(old_value, new_value, better, tolerance_pct),
            )
        )
    return rows


def tally(rows: list[Row]) -> dict[str, int]:
    """How many rows of each verdict."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.verdict] = counts.get(row.verdict, 0) + 1
    return counts
