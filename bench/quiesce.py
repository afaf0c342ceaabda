"""Waiting for the system to be idle between benchmarks.

A benchmark leaves work behind (the intake phases submit thousands of applications the
workflow side then works through for minutes); the next one measured on top of that
backlog measures the backlog. Idle here means: no record added to any stream topic for
QUIET_SECONDS (the workflow, tracking and notify all write to them while they work).
"""

from __future__ import annotations

import asyncio
import time

from bench.context import Run
from onceonly.platform.partition_reader import PartitionReader
from onceonly.platform.topics import Stream, topic_name

QUIET_SECONDS = 5.0


async def wait_until_quiet(run: Run, *, within: float, what: str) -> dict[str, float | bool]:
    """Wait until the stream topics stood still for QUIET_SECONDS, at most `within`
    seconds; how long it took and whether the system was quiet then."""
    topics = [topic_name(run.endpoints.topic_prefix, s) for s in Stream]
    step = run.step(f"{what}: waiting for the system to be idle")
    begin = time.monotonic()
    reader = PartitionReader(run.endpoints.kafka, client_id=f"{run.plan.run_id}-quiet")
    quiet = False
    try:
        last = await reader.end_offsets(topics)
        still_since = time.monotonic()
        while time.monotonic() - begin < within:
            await asyncio.sleep(1.0)
            now = await reader.end_offsets(topics)
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since >= QUIET_SECONDS:
                quiet = True
                break
            step((time.monotonic() - begin) / within)
    finally:
        await reader.close()
        step.done()
    return {"seconds": round(time.monotonic() - begin, 1), "quiet": quiet}
