"""What the micro-benchmarks (checkpoint_cost, approval_apply, intake_request_cost,
tracking_batch_cost) share: a scratch database (for the first two with a pool of one
connection), the cost of a step on it (wall time, this process's CPU, the Postgres
backend's CPU from /proc, so Postgres must run on this machine), and a measure run in
a service's own loop, logging and tracing."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import uvloop

from bench.config import Endpoints
from bench.monitor import cpu_seconds
from bench.scratch_intake import _admin, database_in
from onceonly.platform.db import create_pool, drop_database, prepare_database
from onceonly.platform.telemetry import configure_logging, configure_telemetry


@asynccontextmanager
async def scratch_database(name: str) -> AsyncIterator[str]:
    """The URL of a new, empty database of its own (bench_<name>_<random>), dropped on
    exit."""
    url = Endpoints().database_url
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    await _admin(url, f"CREATE DATABASE {database}")
    try:
        yield database_in(url, database)
    finally:
        await drop_database(database_in(url, "postgres"), database)


@asynccontextmanager
async def scratch_pool(
    name: str, *, component: str, package: str, reset_sessions: bool = True
) -> AsyncIterator[asyncpg.Pool]:
    """A pool of one connection (every statement on the backend measured) to a scratch
    database, `component`'s migrations applied; the database dropped on exit."""
    async with scratch_database(name) as url:
        pool = await create_pool(url, max_size=1, reset_sessions=reset_sessions)
        try:
            await prepare_database(pool, component=component, package=package)
            yield pool
        finally:
            await pool.close()


@dataclass(frozen=True)
class Spent:
    wall_ms: float
    process_cpu_ms: float
    postgres_cpu_ms: float


class Stopwatch:
    """Started on creation; `spent()` is what went by since, in milliseconds."""

    def __init__(self, backend: int) -> None:
        self._backend = backend
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), cpu_seconds(self._backend) or 0.0

    def spent(self) -> Spent:
        now = self._now()
        wall, process, postgres = (1000 * (b - a) for a, b in zip(self._start, now, strict=True))
        return Spent(wall, process, postgres)


def measure_as_service(
    process: str, service: str, measure: Coroutine[Any, Any, dict[str, Any]]
) -> None:
    """Run `measure` in uvloop (as the services run) with the logging and tracing a
    service's process sets up, its log lines written to a sink, and print its result
    as JSON on stdout."""
    os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")
    sink = open(os.devnull, "w")  # noqa: SIM115 (open for the process's life)
    configure_logging(process, "INFO", stream=sink)
    configure_telemetry(service)
    json.dump(uvloop.run(measure), sys.stdout)
    print()
