"""Kafka helpers of the benchmarks: read a topic from an instant on, drop scratch topics."""

from __future__ import annotations

import contextlib
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord


def raw_consumer(bootstrap: str, *, offset_reset: str, **settings: int) -> AIOKafkaConsumer:
    """The benchmarks' raw reader: no group, no commits, fetches large enough that a
    backlog comes in few requests (`settings`: other consumer settings, such as
    fetch_max_wait_ms)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset=offset_reset,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **settings,
    )


async def read_since(
    bootstrap: str,
    topics: list[str],
    since_ms: int,
    *,
    idle_seconds: float = 2.0,
    limit_seconds: float = 120.0,
) -> tuple[list[ConsumerRecord], float]:
    """Every record of `topics` stamped at or after `since_ms`, read until the end of
    each partition (or `idle_seconds` without a record), and the seconds the reading
    took (a raw consume loop: no processing, no commits)."""
    consumer = raw_consumer(bootstrap, offset_reset="latest")
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            numbers = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            partitions.extend(TopicPartition(topic, p) for p in sorted(numbers))
        consumer.assign(partitions)
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        todo = {}
        for tp in partitions:
            offset = found.get(tp)
            if offset is None:
                continue  # nothing that recent in this partition
            consumer.seek(tp, offset.offset)
            todo[tp] = ends[tp]
        begin = time.perf_counter()
        last = begin
        # Timed from the request that brought the first records: the fetches before it
        # came back empty after the fetch wait (the consumer's first fetch can go out
        # before the seeks), which made the same read take 0.01 s or 0.5 s by chance.
        first: float | None = None
        while todo and time.perf_counter() - begin < limit_seconds:
            asked = time.perf_counter()
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            now = time.perf_counter()
            if not batch and now - last > idle_seconds:
                break
            for tp, got in batch.items():
                if got and first is None:
                    first = asked
                last = now
                records.extend(got)
                if got and got[-1].offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
        if first is None:
            return records, time.perf_counter() - begin
        return records, max(last - first, 1e-6)
    finally:
        await consumer.stop()


async def read_rate(
    bootstrap: str, records: list[ConsumerRecord], *, min_seconds: float = 1.0
) -> dict[str, float | int]:
    """The raw consume rate of the offsets `records` span (each partition's first to
    last), read again and again until the reads add up to `min_seconds`: one read of a
    small backlog takes milliseconds, too short to be a rate (the drains' read of 1,000
    to 1,600 records took 6 to 100 ms, 2026-12-07). Each read is timed from its first
    fetch request to its last record; the consumer's fetch wait is 5 ms, so that a
    fetch still out from the read before costs no more."""
    ranges: dict[TopicPartition, tuple[int, int]] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        low, high = ranges.get(tp, (record.offset, record.offset + 1))
        ranges[tp] = (min(low, record.offset), max(high, record.offset + 1))
    if not ranges:
        return {"passes": 0, "records_read": 0, "seconds": 0.0, "records_per_s": 0.0}
    consumer = raw_consumer(bootstrap, offset_reset="earliest", fetch_max_wait_ms=5)
    await consumer.start()
    passes = read = 0
    seconds = 0.0
    try:
        consumer.assign(list(ranges))
        while seconds < min_seconds and passes < 1_000:
            for tp, (low, _) in ranges.items():
                consumer.seek(tp, low)
            todo = {tp: high for tp, (_, high) in ranges.items()}
            begin = time.perf_counter()
            while todo:
                if time.perf_counter() - begin > 60:
                    raise RuntimeError(f"the raw read did not reach the end of {sorted(todo)}")
                batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for tp, got in batch.items():
                    if tp not in todo:
                        continue
                    read += sum(1 for r in got if r.offset < todo[tp])
                    if got and got[-1].offset + 1 >= todo[tp]:
                        todo.pop(tp)
            seconds += time.perf_counter() - begin
            passes += 1
    finally:
        await consumer.stop()
    return {
        "passes": passes,
        "records_read": read,
        "seconds": round(seconds, 3),
        "records_per_s": round(read / seconds, 1) if seconds > 0 else 0.0,
    }


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # a topic created just now
    return consumer.partitions_for_topic(topic) or set()


def header(record: ConsumerRecord, name: str) -> str:
    for key, value in record.headers or ():
        if key == name:
            return value.decode()
    return ""


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (the run's scratch topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            with contextlib.suppress(Exception):
                await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()
