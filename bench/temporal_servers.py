"""Temporal's dev server (SQLite) against its own server on PostgreSQL, side by side.

    .venv/bin/python -m bench.temporal_servers [--workflows 300] [--concurrency 20]

Both must run: the dev server of `make up` (127.0.0.1:7233, pid file .run/pids/temporal)
and `deploy/local/temporal-postgres.sh up` (127.0.0.1:27233, .run/pids/temporal-pg).
The same client runs, on each server in turn and twice over (dev, postgres, dev,
postgres, so that neither always goes first), `--workflows` workflows from
`--concurrency` concurrent clients: each started and awaited (an empty workflow; then
one with a timer and an activity, the shape of our tasks' clocks). Per server and
shape: completed workflows per second, start-to-result latency (p50, p99) and the
server process's CPU seconds per workflow (from /proc). Written to
bench/results/temporal-servers.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import typer
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.empty_workflow import EmptyWorkflow
from bench.stats import summarize

REPO = Path(__file__).resolve().parents[1]
SERVERS = {
    "dev (SQLite)": ("127.0.0.1:7233", REPO / ".run/pids/temporal.pid"),
    "server on PostgreSQL": ("127.0.0.1:27233", REPO / ".run/pids/temporal-pg.pid"),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@activity.defn(name="BenchStep")
async def step(n: int) -> int:
    return n + 1


@workflow.defn(name="BenchTimerActivity")
class TimerActivityWorkflow:
    """A timer and an activity: the least one of our clocks does."""

    @workflow.run
    async def run(self) -> int:
        await workflow.sleep(0.05)
        return await workflow.execute_activity(
            step, 1, start_to_close_timeout=timedelta(seconds=30)
        )


@dataclass
class Measured:
    server: str
    shape: str
    round: int
    workflows: int
    seconds: float
    per_second: float
    latency_ms: dict[str, float]
    server_cpu_ms_per_workflow: float
    # PostgreSQL's own processes over the same run (only the server on PostgreSQL uses
    # it: the other services are stopped while this runs).
    postgres_cpu_ms_per_workflow: float


POSTMASTER = (
    Path(os.environ.get("ONCEONLY_POSTGRES_DATA_DIR", "/var/lib/postgresql/15/onceonly"))
    / "postmaster.pid"
)


def cpu_seconds(pid_file: Path) -> float:
    """User and system CPU of the processes in the group led by the pid in `pid_file`
    (its first line: a pid file of ours, or Postgres's postmaster.pid)."""
    pid = int(pid_file.read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields[1] the parent, fields[2] the process group (the leader's pid under
        # setsid; each Postgres backend has its own, but the postmaster is its parent).
        if int(fields[2]) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
        if int(stat.parent.name) == pid:  # and what its exited children used
            total += int(fields[13]) + int(fields[14])
    return total / CLOCK_TICKS


async def measure(name: str, shape: str, round_: int, count: int, concurrency: int) -> Measured:
    address, pid_file = SERVERS[name]
    client = await Client.connect(address)
    queue = f"bench-servers-{uuid.uuid4().hex[:8]}"
    kind = EmptyWorkflow.run if shape == "empty" else TimerActivityWorkflow.run
    slots = iter(range(count))
    latencies: list[float] = []

    async def one_client() -> None:
        for i in slots:
            begin = time.perf_counter()
            await client.execute_workflow(
                kind,
                id=f"{queue}-{i}",
                task_queue=queue,
                execution_timeout=timedelta(minutes=5),
            )
            latencies.append(time.perf_counter() - begin)

    async with Worker(
        client,
        task_queue=queue,
        workflows=[EmptyWorkflow, TimerActivityWorkflow],
        activities=[step],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        cpu_before, pg_before = cpu_seconds(pid_file), cpu_seconds(POSTMASTER)
        begin = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        seconds = time.perf_counter() - begin
        cpu = cpu_seconds(pid_file) - cpu_before
        pg_cpu = cpu_seconds(POSTMASTER) - pg_before
    stats = summarize(latencies)
    return Measured(
        server=name,
        shape=shape,
        round=round_,
        workflows=count,
        seconds=round(seconds, 2),
        per_second=round(count / seconds, 1),
        latency_ms={"p50": stats.p50_ms or 0.0, "p99": stats.p99_ms or 0.0},
        server_cpu_ms_per_workflow=round(cpu * 1000 / count, 2),
        postgres_cpu_ms_per_workflow=round(pg_cpu * 1000 / count, 2),
    )


def main(
    workflows: int = typer.Option(300, help="workflows per server, shape and round"),
    concurrency: int = typer.Option(20, help="concurrent clients"),
    output: Path = typer.Option(REPO / "bench/results/temporal-servers.json"),
) -> None:
    async def run() -> list[Measured]:
        found = []
        for shape in ("empty", "timer+activity"):
            for round_ in (1, 2):
                for name in SERVERS:
                    measured = await measure(name, shape, round_, workflows, concurrency)
                    print(json.dumps(asdict(measured), ensure_ascii=False))
                    found.append(measured)
        return found

    results = asyncio.run(run())
    ratios = {}
    for shape in ("empty", "timer+activity"):
        rate = {
            name: sum(m.per_second for m in results if m.server == name and m.shape == shape) / 2
            for name in SERVERS
        }
        ratios[shape] = round(rate["server on PostgreSQL"] / rate["dev (SQLite)"], 2)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "workflows": workflows,
                "concurrency": concurrency,
                "runs": [asdict(m) for m in results],
                "postgres_to_dev_rate": ratios,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    print(json.dumps({"postgres_to_dev_rate": ratios}))
    # The SDK's core runtime threads abort the interpreter's finalisation ("PyGILState_
    # Release ... must be current") once both clients are gone; the report is written.
    os._exit(0)


if __name__ == "__main__":
    typer.run(main)
