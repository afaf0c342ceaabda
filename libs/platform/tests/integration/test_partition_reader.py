"""Reading offsets [start, stop) of one partition outside any group, also concurrently."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from onceonly.platform.kafka import ensure_topics
from onceonly.platform.partition_reader import PartitionReader
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


async def test_reads_exactly_the_range_and_stops_at_the_end(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = f"{unique_prefix('reader')}.events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    for n in range(8):
        await producer.send_and_wait(topic, f"p{n % 2}-{n // 2}".encode(), partition=n % 2)
    reader = PartitionReader(kafka_bootstrap, client_id="test-reader", poll_ms=200)
    try:
        ends = await reader.end_offsets([topic, f"{topic}-never-created"])
        assert ends == {(topic, 0): 4, (topic, 1): 4}
        # The reader keeps its admin client between calls: a topic created since, and
        # records added since, are seen all the same.
        later = f"{topic}-later"
        await ensure_topics(kafka_bootstrap, [later], partitions=1)
        await producer.send_and_wait(later, b"x", partition=0)
        await producer.send_and_wait(topic, b"p0-4", partition=0)
        ends = await reader.end_offsets([topic, later])
        assert ends == {(topic, 0): 5, (topic, 1): 4, (later, 0): 1}
        middle = await reader.read(topic, 0, 1, 3)
        assert [(r.offset, r.value) for r in middle] == [(1, b"p0-1"), (2, b"p0-2")]
        # Beyond the end: what there is; an empty range: nothing.
        assert [r.offset for r in await reader.read(topic, 1, 2, 100)] == [2, 3]
        assert await reader.read(topic, 1, 3, 3) == []
        # A page: the first `limit` records of the range, then on from after the last.
        page = await reader.read(topic, 0, 0, 5, limit=2)
        assert [r.offset for r in page] == [0, 1]
        assert [r.offset for r in await reader.read(topic, 0, 2, 5, limit=2)] == [2, 3]
        # Several agents share one reader: reads of different partitions do not mix.
        both = await asyncio.gather(*(reader.read(topic, p, 0, 4) for p in (0, 1, 0, 1)))
        for partition, records in zip((0, 1, 0, 1), both, strict=True):
            assert [r.value for r in records] == [f"p{partition}-{i}".encode() for i in range(4)]
    finally:
        await reader.close()
