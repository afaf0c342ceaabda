"""A scratch intake for the intake benchmark: its own `onceonly-intake api` and `relay`
processes (the binaries of deploy/local/Procfile), on a database and topics created for
the run, so that the thousands of applications the benchmark submits never reach the
running system (nothing of it consumes the scratch topics).

At the end, also on error or Ctrl-C, the processes are stopped, the database dropped and
the topics deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from bench.config import REPO, RESULTS, Endpoints
from bench.kafka_tools import delete_topics
from bench.monitor import ProcessMonitor
from bench.services import SERVICES_SH
from onceonly.platform.db import drop_database
from onceonly.platform.testing import free_port

INTAKE = REPO / ".venv" / "bin" / "onceonly-intake"
# The monitor's and the profiler's names for them, beside the running intake's.
API = "bench-intake-api"
RELAY = "bench-intake-relay"
START_SECONDS = 90.0  # migrations and start-up on a busy 2-core machine
STOP_SECONDS = 15.0  # uvicorn's graceful shutdown is 10 s


@dataclass(frozen=True)
class ScratchIntake:
    url: str
    database_url: str
    topic_prefix: str
    pids: dict[str, int]


def database_in(url: str, database: str) -> str:
    """`url` with its database (the path) replaced by `database`."""
    base, _, rest = url.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def scratch_environment(
    base: dict[str, str], *, database_url: str, topic_prefix: str, port: int
) -> dict[str, str]:
    """The variables of the scratch processes: the caller's, with the database, the
    topics and the port overridden and the relay's metrics endpoint off (the running
    relay's port would clash); deploy/local/env gives the rest."""
    return {
        **base,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_TOPIC_PREFIX": topic_prefix,
        "ONCEONLY_INTAKE_HOST": "127.0.0.1",
        "ONCEONLY_INTAKE_PORT": str(port),
        "ONCEONLY_RELAY_METRICS_PORT": "0",
    }


async def _admin(url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction nor take parameters; the name
    # is ours (the run id, letters and digits), never input.
    conn = await asyncpg.connect(database_in(url, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _start(command: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    # Through `services.sh run`, which execs the command (the pid is intake's) with the
    # variables of deploy/local/env as the running processes have them; ours win.
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            str(SERVICES_SH),
            "run",
            str(INTAKE),
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def _wait_healthy(url: str, processes: list[asyncio.subprocess.Process], log: Path) -> None:
    """Until the API answers /health 200 (it checks the database and the relay's
    heartbeat); a process that exits meanwhile fails the start."""
    deadline = time.monotonic() + START_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
        while time.monotonic() < deadline:
            if any(p.returncode is not None for p in processes):
                break
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{url}/health") as answer:
                    if answer.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the scratch intake did not become healthy (see {log})")


@asynccontextmanager
async def scratch_intake(
    endpoints: Endpoints, run_id: str, monitor: ProcessMonitor
) -> AsyncIterator[ScratchIntake]:
    """A running intake API and relay of this run's own; gone on exit."""
    database = f"{run_id}_intake"
    prefix = f"{run_id}-intake"
    database_url = database_in(endpoints.database_url, database)
    port = free_port()
    env = scratch_environment(
        dict(os.environ), database_url=database_url, topic_prefix=prefix, port=port
    )
    log = RESULTS / f"{run_id}.scratch-intake.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    processes: list[asyncio.subprocess.Process] = []
    await _admin(endpoints.database_url, f"CREATE DATABASE {database}")
    try:
        # The relay first: it applies the migrations; the API applies them too (under
        # the same advisory lock), so the order is only for a quieter log.
        relay = await _start("relay", env, log)
        processes.append(relay)
        api = await _start("api", env, log)
        processes.append(api)
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, processes, log)
        # intake-api counts its uvicorn workers (ONCEONLY_INTAKE_WORKERS > 1) as the
        # running one does; its memory at rest is taken now, started and idle.
        monitor.add(API, api.pid, with_children=True, at_rest=True)
        monitor.add(RELAY, relay.pid, at_rest=True)
        yield ScratchIntake(url, database_url, prefix, {API: api.pid, RELAY: relay.pid})
    finally:
        # Shielded: a second Ctrl-C must not leave the processes or the database behind.
        await asyncio.shield(_clean(endpoints, processes, database, prefix, monitor))


async def _clean(
    endpoints: Endpoints,
    processes: list[asyncio.subprocess.Process],
    database: str,
    prefix: str,
    monitor: ProcessMonitor,
) -> None:
    for process in processes:
        await _stop(process)
    monitor.remove(API)
    monitor.remove(RELAY)
    # FORCE: a connection left by the bench's own pools must not keep it.
    await drop_database(database_in(endpoints.database_url, "postgres"), database)
    await delete_topics(endpoints.kafka, prefix + ".")
