"""`python -m bench.tracking_batch_cost [--applications 500] [--rounds 5]`: the CPU the
tracking agent's own code spends per event recorded, measured in this process.

The events of `--applications` auto-approved applications per round (clones of the
newest completed housing-fund loan's timeline, as `bench.tracking_ingest` makes them)
are recorded the way the agent records a drained backlog: stage by stage, each stage's
records split by partition into batches of the agent's size, each batch through
`TimelineRecorder.process_many` and `TrackingStore.record_batch` (decoding, the batch's
plan, its statements, the deferrals, a log line and a span per event) on a scratch
database of its own, migrated and dropped at the end. What it leaves out is faust (the
consumer, the stream, the acks) and the live counters' table: the figure is the share
of the agent's CPU that is the project's code, without a Kafka round trip or a separate
process to measure. Beside it, each round's rows are written again raw
(`bench.raw_timeline`), whose client CPU per event is the floor of the same durable
work. JSON on stdout. Run old and new code alternately (an old commit's worktree first
on `PYTHONPATH`) to compare.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid
import zlib
from collections import defaultdict
from typing import Any

import asyncpg

from bench.config import Endpoints
from bench.micro import measure_as_service, scratch_database
from bench.raw_timeline import raw_timeline_write
from bench.tracking_ingest import PARTITIONS, clone_timeline, timeline_template
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.deferral_store import postgres_deferrals
from onceonly.platform.topics import topic_name
from onceonly.tracking.agents import BATCH_MAX
from onceonly.tracking.processing import Inbound, Outcome, TimelineRecorder
from onceonly.tracking.settings import TrackingSettings
from onceonly.tracking.store import TrackingStore

PREFIX = "bench-cost"


async def _refuse_append(*_: Any, **__: Any) -> bool:
    raise RuntimeError("a batch fell back to one event at a time")


async def _refuse_park(record: Inbound, reason: str) -> None:
    raise RuntimeError(f"an event was parked: {reason}")


def _backlog(template: list[Any], codes: list[str]) -> list[list[Inbound]]:
    """The batches the agent would take from a backlog of `codes`' events: each stage's
    records, by partition, `BATCH_MAX` at a time (offsets as the topics would give)."""
    clones = [clone_timeline(template, code) for code in codes]
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    batches: list[list[Inbound]] = []
    for stage in range(len(template)):
        by_partition: dict[tuple[str, int], list[Inbound]] = defaultdict(list)
        for code, events in zip(codes, clones, strict=True):
            stream, envelope = events[stage]
            place = (topic_name(PREFIX, stream), zlib.crc32(code.encode()) % PARTITIONS)
            offsets[place] += 1
            by_partition[place].append(
                Inbound(
                    topic=place[0],
                    partition=place[1],
                    offset=offsets[place],
                    key=code.encode(),
                    value=envelope.data,
                    headers=envelope.headers(),
                )
            )
        for records in by_partition.values():
            batches += [records[i : i + BATCH_MAX] for i in range(0, len(records), BATCH_MAX)]
    return batches


async def _round(
    recorder: TimelineRecorder, pool: asyncpg.Pool, template: list[Any], applications: int
) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    codes = [f"330100-C{run}-{i:05d}" for i in range(applications)]
    batches = _backlog(template, codes)
    events = sum(len(batch) for batch in batches)
    started = time.process_time()
    outcomes = [outcome for batch in batches for outcome in await recorder.process_many(batch)]
    spent = time.process_time() - started
    if outcomes.count(Outcome.RECORDED) != events:
        raise RuntimeError(f"not all recorded: {dict.fromkeys(outcomes)}")
    raw = await raw_timeline_write(pool, codes)
    return {
        "cpu_us_per_event": round(spent * 1e6 / events, 1),
        "raw_writer_cpu_us_per_event": round(raw["writer_cpu_ms_per_event"] * 1000, 1),
    }


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    main = await asyncpg.connect(Endpoints().database_url)
    try:
        template = await timeline_template(main)
    finally:
        await main.close()
    async with scratch_database("tracking_cost") as scratch:
        settings = TrackingSettings(database_url=scratch, topic_prefix=PREFIX)
        pool = await create_pool(scratch, max_size=2)
        try:
            await prepare_database(pool, component="tracking", package="onceonly.tracking")
            store = TrackingStore(pool)
            recorder = TimelineRecorder(
                append=_refuse_append, append_batch=store.record_batch, park=_refuse_park
            )
            recorder.deferrals = postgres_deferrals(pool, f"{PREFIX}-tracking", settings)
            await recorder.deferrals.load()
            gc.collect()
            gc.freeze()
            await _round(recorder, pool, template, min(100, args.applications))  # warm-up
            rounds = [
                await _round(recorder, pool, template, args.applications)
                for _ in range(args.rounds)
            ]
        finally:
            await pool.close()
    ours = [r["cpu_us_per_event"] for r in rounds]
    raw = [r["raw_writer_cpu_us_per_event"] for r in rounds]
    return {
        "applications": args.applications,
        "events_per_round": args.applications * len(template),
        "cpu_us_per_event": ours,
        "median_cpu_us_per_event": statistics.median(ours),
        "raw_writer_cpu_us_per_event": raw,
        "median_raw_writer_cpu_us_per_event": statistics.median(raw),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # The log lines are written as in service, to a sink; the loop is the service's
    # (agents.run_worker).
    measure_as_service("tracking-agent", "onceonly-tracking", _measure(args))


if __name__ == "__main__":
    main()
