"""Reading a range of offsets of one partition, outside any consumer group."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from onceonly.platform import kafka_connection


class PartitionReader:
    """Reads offsets [start, stop) of one partition with its own group-less consumer.

    For consumers that keep their own record of progress and find that their group
    consumer skipped records (onceonly.tracking.continuity). Records deleted by retention
    are simply not there; the read ends at `stop` or at the end of the partition. One
    read at a time: the consumer's assignment is the partition being read.
    """

    def __init__(self, bootstrap: str, *, client_id: str, poll_ms: int = 1000) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._poll_ms = poll_ms
        self._consumer: AIOKafkaConsumer | None = None
        # Kept between calls: `end_offsets` is asked every few seconds (the tracking
        # agent's idle check), and a new admin client costs a connection and a metadata
        # round each time.
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()

    async def read(
        self, topic: str, partition: int, start: int, stop: int, *, limit: int | None = None
    ) -> list[ConsumerRecord]:
        """The records of offsets [start, stop), the first `limit` of them at most (a
        long hole is read in pages: read again from after the last one returned)."""
        if stop <= start:
            return []
        async with self._lock:
            records = await self._read(topic, partition, start, stop, limit)
        return records if limit is None else records[:limit]

    async def _read(
        self, topic: str, partition: int, start: int, stop: int, limit: int | None
    ) -> list[ConsumerRecord]:
        consumer = await self._started()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        stop = min(stop, end)
        consumer.seek(tp, start)
        records: list[ConsumerRecord] = []
        while await consumer.position(tp) < stop and (limit is None or len(records) < limit):
            batch = await consumer.getmany(tp, timeout_ms=self._poll_ms)
            records.extend(r for r in batch.get(tp, []) if start <= r.offset < stop)
        return records

    async def end_offsets(self, topics: list[str]) -> dict[tuple[str, int], int]:
        """The log end offset of every partition of `topics` (those the broker knows)."""
        async with self._lock:
            consumer = await self._started()
            partitions = await self._partitions(topics)
            if not partitions:
                return {}
            ends = await consumer.end_offsets(partitions)
            return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def _started(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                group_id=None,
                enable_auto_commit=False,
                # Below the log start (retention): begin at the first record there is.
                auto_offset_reset="earliest",
                isolation_level="read_committed",
                **kafka_connection.client_options(),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def _partitions(self, topics: list[str]) -> list[TopicPartition]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, **kafka_connection.client_options()
            )
            await admin.start()
            self._admin = admin
        try:
            return described_partitions(await self._admin.describe_topics(topics))
        except BaseException:
            # A client that failed once (broker restarted, cancelled mid-request) is not
            # trusted again: the next call starts a new one.
            await self._close_admin()
            raise

    async def _close_admin(self) -> None:
        if self._admin is not None:
            admin, self._admin = self._admin, None
            await admin.close()

    async def close(self) -> None:
        await self._close_admin()
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()


async def topic_partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics` that the broker knows (an unknown topic has none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_connection.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return described_partitions(described)


def described_partitions(described: list[dict[str, Any]]) -> list[TopicPartition]:
    """The partitions of a metadata answer's topics, those in error left out."""
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in topic["partitions"]
    ]
