"""Tracking's capacity: the rate at which the agent records a backlog into timelines.

With the tracking agent stopped, applications flow through the rest of the system, so
their events (submitted, accepted, tasks started, notifications) pile up in Kafka. Once
the topics stop growing the agent is started again and records the backlog as fast as
it can; the rate is taken from the timeline's `recorded_at` over the middle of the
drain. The raw limit beside it: a plain aiokafka consumer reading the same records.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench.context import Run
from bench.kafka_tools import header, read_since
from bench.load import open_loop
from bench.profile import profile_while
from bench.quiesce import wait_until_quiet
from bench.services import stopped
from bench.stats import per_second, rate_over_time, ratio
from onceonly.platform.db import create_pool
from onceonly.platform.topics import Stream, topic_name

AGENT = "tracking-agent"


async def _recorded(pool: asyncpg.Pool, codes: list[str]) -> list[float]:
    rows = await pool.fetch(
        "SELECT extract(epoch FROM recorded_at)::float8 AS at FROM tracking.timeline"
        " WHERE application_code = ANY($1::text[])",
        codes,
    )
    return [row["at"] for row in rows]


async def run_tracking_drain(run: Run) -> dict[str, Any]:
    """The drain's figures: system (timeline entries/s), raw consume and their ratio."""
    plan = run.plan
    topics = [topic_name(run.endpoints.topic_prefix, s) for s in Stream]
    statuses: dict[int | str, int] = {}
    phase = "tracking-drain"
    async with stopped([AGENT]):
        since_ms = int(time.time() * 1000) - 1000
        step = run.step(f"tracking drain: {plan.drain_rate}/s with the agent stopped")
        load = await open_loop(
            run.submitter(phase, statuses),
            rate=plan.drain_rate,
            seconds=plan.drain_seconds,
            tick=step,
        )
        settled = await wait_until_quiet(
            run, within=plan.settle_seconds, what="tracking drain: backlog"
        )
        # The raw limit: read the backlog with a plain consumer while nothing else runs.
        step = run.step("tracking drain: raw aiokafka read of the backlog")
        run.monitor.begin("raw-consume-backlog")
        records, raw_seconds = await read_since(run.endpoints.kafka, topics, since_ms)
        run.monitor.end()
        step.done()
    # `stopped` started the agent again: it is draining now.
    codes = [a.code for a in run.accepted.get(phase, [])]
    wanted = set(codes)
    backlog = {header(r, "ce_id") for r in records if header(r, "ce_subject") in wanted}
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        step = run.step(f"tracking drain: recording {len(backlog):,} events")
        run.monitor.begin(phase)
        begin = time.monotonic()

        async def until_drained() -> None:
            while time.monotonic() - begin < plan.settle_seconds:
                done = len(await _recorded(pool, codes))
                step(done / max(1, len(backlog)))
                if done >= len(backlog):
                    return
                await asyncio.sleep(0.5)

        profile = await profile_while(
            [AGENT],
            until_drained,
            seconds=plan.profile_seconds,
            run_id=plan.run_id,
            label="tracking-drain",
        )
        # The profile may end before the drain does.
        await until_drained()
        run.monitor.end()
        stamps = await _recorded(pool, codes)
    finally:
        await pool.close()
    system_rate = rate_over_time(stamps)
    raw_rate = per_second(len(records), raw_seconds)
    busy = run.monitor.phase(phase)
    return {
        "system": {
            "applications": load.ok,
            "backlog_events": len(backlog),
            "seconds_to_settle": settled["seconds"],
            "settled": settled["quiet"],
            "recorded": len(stamps),
            "events_per_s": system_rate,
        },
        "raw": {
            "what": "AIOKafkaConsumer reading the backlog's range of every stream topic"
            " (no group, no commits, no processing)",
            "records": len(records),
            "seconds": round(raw_seconds, 2),
            "records_per_s": raw_rate,
        },
        "ratio": ratio(system_rate, raw_rate),
        "profile": profile,
        "cores_busy": dict(run.monitor.busiest(busy, count=4)) if busy is not None else {},
    }
