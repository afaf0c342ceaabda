"""Measurement, not a test (pytest does not collect it): drive a scratch intake API with
POST /v1/applications and report accepted/s, latency percentiles and CPU milliseconds per
accepted application of the API process, of the Postgres backends of its database, of
every postgres process and of this script (from /proc).

Closed loop: N clients, each sends its next request when the previous one is answered.
Open loop (`--rate`): a fixed offered rate, each request sent at its time.

Run it against an API of its own, never the running system's: a scratch database, e.g.
`intake_perf` created on the local Postgres, then

    ONCEONLY_ENVIRONMENT=development \
    ONCEONLY_DATABASE_URL=postgresql://onceonly:onceonly@127.0.0.1:5432/intake_perf \
    ONCEONLY_INTAKE_PORT=18100 ONCEONLY_TOPIC_PREFIX=perf OTEL_TRACES_EXPORTER=none \
    .venv/bin/onceonly-intake api &
    .venv/bin/python services/intake/tests/perf_harness.py --pid $! \
        --db postgresql://onceonly:onceonly@127.0.0.1:5432/intake_perf

(no relay: the outbox fills and nothing reaches Kafka). The integrators perf-load-NNNN
are created in that database, each with a fresh key per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import asyncpg

from onceonly.intake.store import IntegratorStore

TICKS = os.sysconf("SC_CLK_TCK")
MATTER = "housing-fund-loan"
CHECKS = ("population", "marriage", "real-estate", "social-insurance", "credit")


def loan_application(run_id: str) -> dict[str, Any]:
    # bench/payloads.py loan_application, copied (bench/ is being rewritten).
    return {
        "matter_code": MATTER,
        "applicant": {"kind": "person", "name": "张伟", "identifier": "330106198703152315"},
        "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
        "materials": [
            {
                "code": "loan-application",
                "reference": f"dms://{run_id}/{uuid.uuid4().hex[:12]}/loan-application.pdf",
            }
        ],
        "form": {"loan_amount_cny": 600000, "loan_term_years": 30},
        "consents": [{"purpose": c, "reference": f"bench://{run_id}/consent/{c}"} for c in CHECKS],
    }


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])


def postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


async def make_keys(dsn: str, count: int) -> list[str]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    store = IntegratorStore(pool)
    tokens = []
    for i in range(count):
        _, key = await store.key_for(f"perf-load-{i:04d}")
        tokens.append(key.token)
    await pool.close()
    return tokens


async def run(args: argparse.Namespace) -> dict:
    tokens = await make_keys(args.db, args.keys)
    body = json.dumps(loan_application("perf"), ensure_ascii=False).encode()
    url = f"http://127.0.0.1:{args.port}/v1/applications"
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=0)
    counter = 0
    measuring = False

    async with aiohttp.ClientSession(connector=conn) as http:

        async def one() -> None:
            nonlocal counter
            counter += 1
            token = tokens[counter % len(tokens)]
            started = time.perf_counter()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if args.idempotency:
                headers["Idempotency-Key"] = str(uuid.uuid4())
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            if measuring:
                statuses[status] += 1
                latencies.append(time.perf_counter() - started)

        async def client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                await one()

        async def closed(seconds: float) -> None:
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(client(deadline) for _ in range(args.concurrency)))

        async def opened(seconds: float) -> None:
            start = time.perf_counter()
            tasks = []
            n = int(seconds * args.rate)
            for i in range(n):
                due = start + i / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)

        load = opened if args.rate else closed
        await load(args.warmup)
        # The backends of the scratch database (the API's pool): their CPU only.
        db = await asyncpg.connect(args.db)
        backends = [
            r["pid"]
            for r in await db.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        ]
        await db.close()
        pg_all = postgres_pids()
        measuring = True
        t0 = time.perf_counter()
        api0, be0, pg0 = (
            cpu_ticks(args.pid),
            sum(map(cpu_ticks, backends)),
            sum(map(cpu_ticks, pg_all)),
        )
        self0 = os.times()
        await load(args.duration)
        elapsed = time.perf_counter() - t0
        api1, be1, pg1 = (
            cpu_ticks(args.pid),
            sum(map(cpu_ticks, backends)),
            sum(map(cpu_ticks, pg_all)),
        )
        self1 = os.times()
        measuring = False

    accepted = statuses.get(201, 0)
    latencies.sort()

    def ms_per(ticks: float) -> float:
        return round(ticks / TICKS * 1000 / max(accepted, 1), 3)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    return {
        "mode": (f"open {args.rate}/s" if args.rate else f"closed {args.concurrency}")
        + (" keyed" if args.idempotency else ""),
        "accepted": accepted,
        "statuses": dict(statuses),
        "accepted_per_s": round(accepted / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
        "cpu_ms_per_app": {
            "intake_api": ms_per(api1 - api0),
            "pg_backends": ms_per(be1 - be0),
            "pg_all": ms_per(pg1 - pg0),
            "harness": round(
                (self1.user + self1.system - self0.user - self0.system) * 1000 / max(accepted, 1),
                3,
            ),
        },
        "api_cores": round((api1 - api0) / TICKS / elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--keys", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--idempotency", action="store_true", help="a fresh key per POST")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this rate")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
