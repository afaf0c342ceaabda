"""Resident memory and CPU of the running system's processes (Linux /proc).

The processes are those of deploy/local (.run/pids/*.pid) plus this benchmark itself.
Postgres serves each connection from a child process, several intake API workers run
under uvicorn's supervisor: their figures include the children (Postgres's RSS sum
counts shared buffers more than once, so it is an upper bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import PIDS

_TICKS = os.sysconf("SC_CLK_TCK")
# Postgres serves each connection from a child; intake-api with ONCEONLY_INTAKE_WORKERS
# > 1 runs its workers as children of uvicorn's supervisor.
_WITH_CHILDREN = {"postgres", "intake-api"}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def rss_kib(pid: int) -> int | None:
    status = _read(Path(f"/proc/{pid}/status"))
    if status is None:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds of the process; with `reaped_children`, plus those of
    its children that have exited (Postgres backends come and go)."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return None
    # Fields after the command name (which may hold spaces) start after its ')'.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def age_seconds(pid: int) -> float | None:
    """Seconds since the process started."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    uptime = _read(Path("/proc/uptime"))
    if stat is None or uptime is None:
        return None
    started_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return max(0.0, float(uptime.split()[0]) - started_ticks / _TICKS)


def terminate(process: subprocess.Popen[bytes], *, within: float) -> None:
    """Stop a process the bench started: SIGTERM, then SIGKILL after `within` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        text = _read(task) or ""
        found.extend(int(p) for p in text.split())
    return found


def service_pids(pid_dir: Path = PIDS) -> dict[str, int]:
    """The running processes with a pid file in `pid_dir`, by name."""
    pids: dict[str, int] = {}
    for pid_file in sorted(pid_dir.glob("*.pid")):
        text = (_read(pid_file) or "").strip()
        if text.isdigit() and Path(f"/proc/{text}").exists():
            pids[pid_file.stem] = int(text)
    return pids


@dataclass
class _Process:
    pid: int
    with_children: bool
    pid_file: Path | None = None

    def members(self) -> list[int]:
        # A service restarted (e.g. by someone else's test) has a new pid: follow it.
        if self.pid_file is not None:
            text = (_read(self.pid_file) or "").strip()
            if text.isdigit():
                self.pid = int(text)
        return [self.pid, *children(self.pid)] if self.with_children else [self.pid]

    def rss(self) -> int:
        return sum(rss_kib(p) or 0 for p in self.members())

    def cpu(self) -> float:
        own, *others = self.members()
        total = cpu_seconds(own, reaped_children=self.with_children) or 0.0
        return total + sum(cpu_seconds(p) or 0.0 for p in others)


@dataclass
class Phase:
    name: str
    started: float
    cpu_start: dict[str, float]
    cpu_end: dict[str, float] = field(default_factory=dict)
    ended: float = 0.0
    peak_rss: dict[str, int] = field(default_factory=dict)


def cpu_used(phase: Phase) -> dict[str, float]:
    """CPU seconds each process used over the phase (a process restarted within the
    phase starts again from 0: counted as 0, never negative)."""
    return {
        name: max(0.0, phase.cpu_end.get(name, 0.0) - start)
        for name, start in phase.cpu_start.items()
        if name in phase.cpu_end
    }


def cpu_per_item(phase: Phase, items: int, *, cores: int) -> dict[str, float]:
    """CPU milliseconds per item of work (an accepted application) of each process over
    the phase, their sum as "total", and "ceiling_per_s": the rate at which that much
    work per item would keep all `cores` busy."""
    if items <= 0 or not phase.cpu_end:
        return {}
    used = cpu_used(phase)
    total = sum(used.values())
    found = {name: round(1000 * cpu / items, 3) for name, cpu in used.items() if cpu > 0}
    found["total"] = round(1000 * total / items, 3)
    found["ceiling_per_s"] = round(cores * items / total, 1) if total else 0.0
    return found


class ProcessMonitor:
    """Samples RSS every `every` seconds; keeps the at-rest figures, the peak of each
    phase and each process's CPU use over the phase (cores busy, 1.0 = one core)."""

    def __init__(self, *, every: float = 0.5) -> None:
        self._every = every
        self._processes = {
            name: _Process(pid, name in _WITH_CHILDREN, PIDS / f"{name}.pid")
            for name, pid in service_pids().items()
        }
        self._processes["bench"] = _Process(os.getpid(), False)
        self.at_rest: dict[str, int] = {}
        self.phases: list[Phase] = []
        self._current: Phase | None = None
        self._task: asyncio.Task[None] | None = None

    def add(
        self, name: str, pid: int, *, with_children: bool = False, at_rest: bool = False
    ) -> None:
        """Follow another process (e.g. a worker the benchmark started); with `at_rest`,
        take its memory at rest now (it started after `sample_rest`)."""
        process = _Process(pid, with_children)
        self._processes[name] = process
        if at_rest:
            self.at_rest[name] = process.rss()

    def remove(self, name: str) -> None:
        self._processes.pop(name, None)

    def sample_rest(self) -> None:
        self.at_rest = {name: p.rss() for name, p in self._processes.items()}

    def _cpu(self) -> dict[str, float]:
        return {name: p.cpu() for name, p in self._processes.items()}

    def begin(self, name: str) -> None:
        self.end()
        loop = asyncio.get_running_loop()
        self._current = Phase(name, loop.time(), self._cpu())
        self.phases.append(self._current)

    def end(self) -> None:
        phase, self._current = self._current, None
        if phase is not None:
            phase.ended = asyncio.get_running_loop().time()
            phase.cpu_end = self._cpu()

    async def _sample(self) -> None:
        while True:
            phase = self._current
            if phase is not None:
                for name, process in list(self._processes.items()):
                    rss = process.rss()
                    if rss > phase.peak_rss.get(name, 0):
                        phase.peak_rss[name] = rss
            await asyncio.sleep(self._every)

    async def __aenter__(self) -> ProcessMonitor:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        self.end()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cores_busy(self, phase: Phase) -> dict[str, float]:
        """CPU seconds used per wall second in the phase, per process."""
        wall = max(phase.ended - phase.started, 1e-9)
        return {name: round(cpu / wall, 2) for name, cpu in cpu_used(phase).items()}

    def cpu_per_item(self, phase: Phase, items: int) -> dict[str, float]:
        return cpu_per_item(phase, items, cores=os.cpu_count() or 1)

    def busiest(self, phase: Phase, *, count: int = 3) -> list[tuple[str, float]]:
        busy = self.cores_busy(phase)
        return sorted(busy.items(), key=lambda item: item[1], reverse=True)[:count]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in reversed(self.phases) if p.name == name), None)

    def report(self) -> dict[str, object]:
        peak: dict[str, int] = {}
        for phase in self.phases:
            for name, rss in phase.peak_rss.items():
                peak[name] = max(peak.get(name, 0), rss)
        return {
            "unit": "MiB",
            "at_rest": {name: round(kib / 1024, 1) for name, kib in self.at_rest.items()},
            "peak_under_load": {name: round(kib / 1024, 1) for name, kib in peak.items()},
            "per_process": memory_per_process(self.at_rest, peak),
            "cores_busy_by_phase": {phase.name: self.cores_busy(phase) for phase in self.phases},
        }


def memory_per_process(
    at_rest_kib: dict[str, int], peak_kib: dict[str, int]
) -> dict[str, dict[str, float | None]]:
    """Each process's (one replica's: one pid file each) resident memory in MiB at rest
    and at its peak under load; None where it was not sampled (not running then)."""

    def mib(kib: int | None) -> float | None:
        return None if kib is None else round(kib / 1024, 1)

    return {
        name: {"at_rest": mib(at_rest_kib.get(name)), "peak": mib(peak_kib.get(name))}
        for name in sorted(at_rest_kib.keys() | peak_kib.keys())
    }
