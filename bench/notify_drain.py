"""Notify's capacity: the rate at which it works through a backlog (see bench/drain.py).

Notify's unit of work is a Kafka record of its four topics (most become one or more
notifications, some none), so its rate is records/s over the middle of the drain, with
notifications/s beside it. The records done are read from notify's own count of the
events it handled (`/metrics`), not from its group's committed offsets: it commits once
per fetched batch of up to 200 records, so on 2026-12-07 the offsets went from under 5 %
to over 95 % of a 1,000-record backlog between two samples and left no span to take a
rate over. The raw limit: a plain aiokafka consumer reading the same backlog."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bench.context import Run
from bench.drain import (
    PROGRESS_SAMPLE_SECONDS,
    GroupOffsets,
    backlog_while_stopped,
    committed_offsets,
    drain_figures,
)
from bench.kafka_tools import delete_topics, read_since
from bench.profile import profile_while
from bench.raw_notify import raw_notify_write
from bench.stats import progress_rate, rate_over_time, ratio
from onceonly.notify.runtime import CONSUMER_NAME, NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.db import create_pool
from onceonly.platform.partition_reader import PartitionReader
from onceonly.platform.topics import Stream, topic_name

PROCESS = "notify"


async def handled_events(session: aiohttp.ClientSession, url: str) -> int:
    """The events notify's consumer has handled since its process started (its
    `onceonly_events_handled_total` counter at `url`/metrics)."""
    async with session.get(f"{url}/metrics") as response:
        response.raise_for_status()
        text = await response.text()
    return handled_in(text)


def handled_in(metrics: str) -> int:
    """Notify's consumer's handled events in a Prometheus text exposition; 0 before its
    first."""
    for family in text_string_to_metric_families(metrics):
        if family.name != "onceonly_events_handled":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("consumer") == CONSUMER_NAME:
                return int(sample.value)
    return 0


async def _follow_handled(
    url: str,
    total: int,
    samples: list[tuple[float, int]],
    *,
    within: float,
    step: Callable[[float], None],
) -> None:
    """Append (time, records handled) to `samples` every PROGRESS_SAMPLE_SECONDS until
    notify has handled `total` (or `within` seconds passed). Notify's counter began at
    0 with its process; until it answers there is nothing to sample."""
    begin = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0)) as session:
        while time.monotonic() - begin < within:
            try:
                done = min(total, await handled_events(session, url))
            except (aiohttp.ClientError, OSError, TimeoutError):  # not started yet
                await asyncio.sleep(PROGRESS_SAMPLE_SECONDS)
                continue
            samples.append((time.monotonic(), done))
            step(done / max(1, total))
            if done >= total:
                return
            await asyncio.sleep(PROGRESS_SAMPLE_SECONDS)


def _consumed(
    now: dict[TopicPartition, int],
    start: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> int:
    return sum(max(0, min(now.get(tp, 0), end) - start.get(tp, 0)) for tp, end in ends.items())


async def run_notify_drain(run: Run) -> dict[str, Any]:
    """The drain's figures: system (records/s and notifications/s), raw consume, ratio."""
    plan = run.plan
    phase = "notify-drain"
    settings = NotifySettings()
    group = settings.notify_consumer_group
    topics = NotifyRuntime(
        settings.model_copy(update={"topic_prefix": run.endpoints.topic_prefix})
    ).consumed_topics
    samples: list[tuple[float, int]] = []
    async with backlog_while_stopped(run, PROCESS, phase) as backlog:
        # Notify is stopped: every outcome of the backlog's applications comes after this.
        since_ms = int(time.time() * 1000)
        start = await committed_offsets(run.endpoints.kafka, group)
        reader = PartitionReader(run.endpoints.kafka, client_id=f"{plan.run_id}-notify-drain")
        try:
            ends = {
                TopicPartition(topic, partition): offset
                for (topic, partition), offset in (await reader.end_offsets(topics)).items()
            }
        finally:
            await reader.close()
        total = sum(max(0, end - start.get(tp, 0)) for tp, end in ends.items())
        step = run.step(f"notify drain: {total:,} records")
        begin = time.monotonic()
        # Followed from before notify starts: it drains while `up` still waits for the
        # rest of its service to be healthy (on 2026-12-07 the first sample after `up`
        # found 951 of 1,000 records handled).
        following = asyncio.create_task(
            _follow_handled(
                run.endpoints.notify, total, samples, within=plan.settle_seconds, step=step
            )
        )
    # Notify runs again: it is draining now.
    run.monitor.begin(phase)

    async def until_drained() -> None:
        # The committed offsets end the wait too, should a record be done without
        # counting as handled (a deferred one).
        try:
            async with GroupOffsets(run.endpoints.kafka, group) as offsets:
                while not following.done() and time.monotonic() - begin < plan.settle_seconds:
                    if _consumed(await offsets.read(), start, ends) >= total:
                        return
                    await asyncio.wait({following}, timeout=1.0)
        finally:
            if following.done():
                following.result()  # its error, if it failed

    try:
        profile = await profile_while(
            [PROCESS], until_drained, seconds=plan.profile_seconds, run_id=plan.run_id, label=phase
        )
        await until_drained()
    finally:
        following.cancel()
    run.monitor.end()
    committed = _consumed(await committed_offsets(run.endpoints.kafka, group), start, ends)
    pool = await create_pool(run.endpoints.database_url, max_size=2)
    try:
        sent = await pool.fetch(
            "SELECT extract(epoch FROM created_at)::float8 AS at FROM notify.local_messages"
            " WHERE application_code = ANY($1::text[])",
            backlog.codes,
        )
        step = run.step("notify drain: the same rows and outcomes written raw")
        raw_write = await _raw_write(run, pool, backlog.codes, total, since_ms)
        step.done()
    finally:
        await pool.close()
    system_rate = progress_rate(samples, total)
    system = {
        "backlog_records": total,
        "handled": samples[-1][1] if samples else 0,
        "committed": committed,
        "records_per_s": system_rate,
        # How finely the drain was seen: a rate needs samples between 5 % and 95 %.
        "progress_samples": [(round(t - begin, 3), n) for t, n in samples],
        "notifications": len(sent),
        "notifications_per_s": rate_over_time([row["at"] for row in sent]),
        "consumer_concurrency": settings.notify_consumer_concurrency,
    }
    figures = drain_figures(run, backlog, system, system_rate, profile)
    figures["raw_write"] = raw_write
    figures["ratio_to_raw_write"] = ratio(system_rate, raw_write["records_per_s"])
    return figures


async def _raw_write(
    run: Run, pool: asyncpg.Pool, codes: list[str], records: int, since_ms: int
) -> dict[str, Any]:
    """bench/raw_notify.py over the backlog's applications, publishing to a scratch
    topic of the run (nobody consumes it; deleted after)."""
    kafka = run.endpoints.kafka
    outcomes_topic = topic_name(run.endpoints.topic_prefix, Stream.NOTIFICATION_OUTCOMES)
    wanted = {code.encode() for code in codes}
    outcomes, _ = await read_since(kafka, [outcomes_topic], since_ms)
    scratch = f"bench-raw-{run.plan.run_id}."
    try:
        return await raw_notify_write(
            pool,
            kafka=kafka,
            codes=codes,
            records=records,
            outcomes=[r for r in outcomes if r.key in wanted],
            topic=f"{scratch}outcomes",
        )
    finally:
        await delete_topics(kafka, scratch)
