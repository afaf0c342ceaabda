"""Sampling profiles of running service processes with py-spy, taken when a target is
missed, so that the report says what bounds it.

py-spy attaches to a process by pid from outside (ptrace; this needs root or
CAP_SYS_PTRACE), so the service runs unmodified. It writes the "raw" (collapsed stack)
format: one line per distinct stack, `frame;frame;...;leaf COUNT`, each frame
`function (file:line)`. `summarize` reads that into the functions with the most samples
of their own (the leaf: where the CPU went) and the most cumulative samples (anywhere on
the stack: what it was spent for).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import REPO, RESULTS
from bench.monitor import service_pids

TOP = 15
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy of the virtualenv (a dev dependency), else one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", str(REPO) + "/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return re.sub(r"^.*/lib/python\d+\.\d+/", "", path)


def frame_name(frame: str) -> str:
    """`function (file:line)` → `function (short/file.py)`: one entry per function."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({_short(match['file'])})"


def summarize(raw: str, *, top: int = TOP) -> dict[str, Any]:
    """The top functions by own and by cumulative samples of a py-spy raw profile."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):  # a recursive function counts once per sample
            cumulative[name] += count

    def table(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 3) if total else None}
            for name, n in counter.most_common(top)
        ]

    return {"samples": total, "by_own": table(own), "by_cumulative": table(cumulative)}


@dataclass
class Recording:
    name: str
    pid: int
    output: Path
    process: asyncio.subprocess.Process | None
    error: str | None = None


async def start(name: str, pid: int, *, seconds: float, output: Path) -> Recording:
    """Start recording `pid` for `seconds` (py-spy runs beside the load)."""
    exe = py_spy()
    if exe is None:
        return Recording(name, pid, output, None, "py-spy not installed (uv sync --all-packages)")
    output.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "100",
        "--format",
        "raw",
        "--output",
        str(output),
        # Sample without pausing the process: the load it serves is what we measure.
        "--nonblocking",
        # uvicorn with several workers: the pid is the supervisor's, the work is theirs.
        "--subprocesses",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    return Recording(name, pid, output, process)


async def finish(recording: Recording, *, wait: float = 30.0) -> dict[str, Any]:
    """Wait for the recording and summarize it (or say why there is none)."""
    found: dict[str, Any] = {"process": recording.name, "pid": recording.pid, "tool": "py-spy"}
    if recording.process is not None:
        try:
            out, _ = await asyncio.wait_for(recording.process.communicate(), wait)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                recording.process.kill()
            await recording.process.wait()
            out = b"timed out"
        if recording.process.returncode != 0:
            said = out.decode(errors="replace")[-300:]
            recording.error = f"py-spy exited {recording.process.returncode}: {said}"
    if recording.error is None and recording.output.exists():
        found["file"] = str(recording.output.relative_to(REPO))
        found.update(summarize(recording.output.read_text(errors="replace")))
    else:
        found["error"] = recording.error or "py-spy wrote no profile"
    return found


async def profile_while(
    processes: Sequence[str],
    load: Callable[[], Awaitable[object]],
    *,
    seconds: float,
    run_id: str,
    label: str,
    pids: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Profile the named processes for `seconds` while `load` runs: those of `pids`
    (e.g. the benchmark's own scratch intake), else the running system's (.run/pids);
    the raw profiles go to bench/results/RUN.LABEL.PROCESS.folded."""
    pids = service_pids() if pids is None else pids
    recordings = [
        await start(
            name, pids[name], seconds=seconds, output=RESULTS / f"{run_id}.{label}.{name}.folded"
        )
        for name in processes
        if name in pids
    ]
    await load()
    found: dict[str, Any] = {"phase": label, "seconds": seconds, "processes": {}}
    for recording in recordings:
        found["processes"][recording.name] = await finish(recording)
    for name in processes:
        if name not in pids:
            found["processes"][name] = {"process": name, "error": "not running"}
    return found
