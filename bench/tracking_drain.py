"""Tracking's capacity: the rate at which the agent records a backlog into timelines
(see bench/drain.py); the rate is taken from the timeline's `recorded_at` over the
middle of the drain. The raw limits beside it: a plain aiokafka consumer reading the
same records, and the same rows written again straight through asyncpg
(bench/raw_timeline.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench.context import Run
from bench.drain import backlog_while_stopped, drain_figures
from bench.kafka_tools import header
from bench.profile import profile_while
from bench.raw_timeline import raw_timeline_write
from bench.stats import rate_over_time, ratio
from onceonly.platform.db import create_pool

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
    phase = "tracking-drain"
    async with backlog_while_stopped(run, AGENT, phase) as backlog:
        pass
    # The agent runs again: it is draining now.
    codes = backlog.codes
    wanted = set(codes)
    events = {header(r, "ce_id") for r in backlog.records if header(r, "ce_subject") in wanted}
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        step = run.step(f"tracking drain: recording {len(events):,} events")
        run.monitor.begin(phase)
        begin = time.monotonic()

        async def until_drained() -> None:
            while time.monotonic() - begin < plan.settle_seconds:
                done = len(await _recorded(pool, codes))
                step(done / max(1, len(events)))
                if done >= len(events):
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
        step = run.step("tracking drain: the same rows written raw")
        raw_write = await raw_timeline_write(pool, codes)
        step.done()
    finally:
        await pool.close()
    system_rate = rate_over_time(stamps)
    system = {"backlog_events": len(events), "recorded": len(stamps), "events_per_s": system_rate}
    figures = drain_figures(run, backlog, system, system_rate, profile)
    figures["raw_write"] = raw_write
    figures["ratio_to_raw_write"] = ratio(system_rate, raw_write["events_per_s"])
    return figures
