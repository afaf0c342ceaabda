"""A consumer's capacity, measured on a backlog: the consumer is stopped while
applications flow through the rest of the system, so that their events pile up in
Kafka; once the topics stop growing the backlog is read with a plain aiokafka consumer
(the raw limit) and the consumer is started again to work through it as fast as it can.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from bench.context import Run
from bench.kafka_tools import read_rate, read_since
from bench.load import LoadResult, open_loop
from bench.quiesce import wait_until_quiet
from bench.services import stopped
from bench.stats import ratio
from onceonly.platform.topics import Stream, topic_name


@dataclass
class Backlog:
    phase: str
    load: LoadResult = field(default_factory=LoadResult)
    settled: dict[str, float | bool] = field(default_factory=dict)
    records: list[ConsumerRecord] = field(default_factory=list)  # the raw read of it
    raw: dict[str, float | int] = field(default_factory=dict)  # kafka_tools.read_rate
    codes: list[str] = field(default_factory=list)  # the applications submitted


@asynccontextmanager
async def backlog_while_stopped(run: Run, process: str, phase: str) -> AsyncIterator[Backlog]:
    """Stop `process`, submit the drain load, wait for the topics to settle and read the
    backlog raw; the body runs then (the process still stopped), and on leaving the
    block the process is started again and is draining."""
    plan = run.plan
    topics = [topic_name(run.endpoints.topic_prefix, s) for s in Stream]
    backlog = Backlog(phase)
    statuses: dict[int | str, int] = {}
    async with stopped([process]):
        since_ms = int(time.time() * 1000) - 1000
        step = run.step(f"{phase}: {plan.drain_rate}/s with {process} stopped")
        backlog.load = await open_loop(
            run.submitter(phase, statuses),
            rate=plan.drain_rate,
            seconds=plan.drain_seconds,
            tick=step,
        )
        backlog.settled = await wait_until_quiet(
            run, within=plan.settle_seconds, what=f"{phase}: backlog"
        )
        step = run.step(f"{phase}: raw aiokafka read of the backlog")
        run.monitor.begin(f"raw-consume-{phase}")
        backlog.records, _ = await read_since(run.endpoints.kafka, topics, since_ms)
        backlog.raw = await read_rate(run.endpoints.kafka, backlog.records)
        run.monitor.end()
        step.done()
        backlog.codes = [a.code for a in run.accepted.get(phase, [])]
        yield backlog


# How often a drain's progress is read (a counter or committed offsets). A consumer
# that commits per fetched batch works through 1,000 records in under a second: samples
# half a second apart (a new admin client each) gave notify's rate three times too low
# (2026-12-06: 395 records/s where notify's log shows about 1,300).
PROGRESS_SAMPLE_SECONDS = 0.05


class GroupOffsets:
    """A consumer group's committed offsets, read through one admin client kept open
    (a client per read took a few hundred milliseconds, longer than a small drain)."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._group = group

    async def __aenter__(self) -> GroupOffsets:
        await self._admin.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._admin.close()

    async def read(self) -> dict[TopicPartition, int]:
        """The group's committed offset of each partition it has committed on."""
        found = await self._admin.list_consumer_group_offsets(self._group)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offset of each partition it has committed on (once)."""
    async with GroupOffsets(bootstrap, group) as offsets:
        return await offsets.read()


def drain_figures(
    run: Run, backlog: Backlog, system: dict[str, Any], rate: float, profile: dict[str, Any]
) -> dict[str, Any]:
    """A drain's result: the consumer's figures (`rate` its capacity) beside the raw read
    of the same backlog, their ratio, the profile and the cores busy while it drained
    (the monitor phase named like the backlog's)."""
    raw_rate = float(backlog.raw["records_per_s"])
    busy = run.monitor.phase(backlog.phase)
    return {
        "system": {
            "applications": backlog.load.ok,
            "seconds_to_settle": backlog.settled["seconds"],
            "settled": backlog.settled["quiet"],
            **system,
        },
        "raw": {
            "what": "AIOKafkaConsumer reading the backlog's range of every stream topic"
            " (no group, no commits, no processing), again and again for a second",
            "records": len(backlog.records),
            **backlog.raw,
        },
        "ratio": ratio(rate, raw_rate),
        "profile": profile,
        "cores_busy": dict(run.monitor.busiest(busy, count=4)) if busy is not None else {},
    }
