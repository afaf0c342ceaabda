"""`python -m bench.intake_request_cost [--requests 3000] [--rounds 5]`: the CPU one
accepted submission costs the intake API's process, measured in this process.

The API as `onceonly-intake api` builds it (`create_app`, its lifespan, the logging and
tracing it configures), on a scratch database of its own (migrated, dropped at the
end), is called straight through ASGI by `--concurrency` tasks: each request a
`POST /v1/applications` of the load's housing-fund loan with a bench integrator's key.
What it leaves out is uvicorn's HTTP parsing and writing and the client's work, so the
figure is the application's own share of the API's CPU, without the noise of a load
generator on the same two cores. Postgres's CPU is not counted. JSON on stdout: this
process's CPU per request of each round and their median. Run old and new code
alternately (an old commit's worktree first on `PYTHONPATH`) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
import uuid
from typing import Any

from bench.integrators import bench_keys
from bench.micro import measure_as_service, scratch_database
from bench.payloads import loan_application
from onceonly.intake.api import create_app
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.db import create_pool

Message = dict[str, Any]


def _scope(token: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/applications",
        "raw_path": b"/v1/applications",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _post(app: Any, token: str, body: bytes) -> int:
    """One request through the ASGI app; its status."""
    sent = False
    status = 0
    done = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(token, body), receive, send)
    done.set()
    return status


async def _round(
    app: Any, tokens: list[str], run_id: str, *, requests: int, concurrency: int
) -> float:
    """CPU microseconds of this process per accepted request over `requests` requests."""
    bodies = [json.dumps(loan_application(run_id)).encode() for _ in range(64)]
    numbers = iter(range(requests))
    refused: dict[int, int] = {}

    async def client() -> None:
        for i in numbers:
            status = await _post(app, tokens[i % len(tokens)], bodies[i % len(bodies)])
            if status != 201:
                refused[status] = refused.get(status, 0) + 1

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    spent = time.process_time() - started
    if refused:
        raise RuntimeError(f"requests refused: {refused}")
    return spent * 1e6 / requests


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database("intake_cost") as scratch:
        settings = IntakeSettings(
            database_url=scratch,
            topic_prefix=f"bench_intake_cost_{uuid.uuid4().hex[:8]}",
            # The budget is spent as in service; no request may be refused by it.
            integrator_post_rate_per_second=1e6,
            integrator_post_burst=1_000_000,
        )
        pool = await create_pool(scratch, max_size=settings.database_pool_max, reset_sessions=False)
        try:
            app = create_app(settings, pool=pool)
            gc.collect()
            gc.freeze()  # as `onceonly-intake api` does after building the app
            async with app.router.lifespan_context(app), bench_keys(scratch, args.keys) as keys:
                run_id = uuid.uuid4().hex[:8]

                async def one_round(requests: int) -> float:
                    return await _round(
                        app, keys.tokens, run_id, requests=requests, concurrency=args.concurrency
                    )

                await one_round(500)  # warm-up
                rounds = [round(await one_round(args.requests), 1) for _ in range(args.rounds)]
        finally:
            await pool.close()
    return {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "cpu_us_per_request": rounds,
        "median_cpu_us_per_request": statistics.median(rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keys", type=int, default=50)
    args = parser.parse_args()
    # The log lines are written as in service, to a sink; the loop is the service's
    # (cli.server_options).
    measure_as_service("intake-api", "onceonly-intake", _measure(args))


if __name__ == "__main__":
    main()
