"""An in-memory Kafka broker for unit tests: the `Producer` and `Consumer` ports
(kafka_ports.py) without a network, held to the same contract suite as aiokafka against
the real broker.

What it keeps of Kafka: topics of a fixed number of partitions, created on first use; a
record's partition chosen from its key as aiokafka's default partitioner does (murmur2),
so one key's records stay in order; offsets per partition from 0; per group committed
offsets; a new group starting at the earliest (or latest) offset; a consumer fetching
from its position, which `seek_to_committed` moves back to the last commit.

What it leaves out: one member per group (a second is refused, not rebalanced),
transactions, retention, timestamps other than the send time. Faults are injected by
hand: `fail_sends` on the producer, `refuse_commits` on a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from onceonly.platform.kafka_ports import Headers


@dataclass
class MemoryBroker:
    """Topics, their records and the groups' committed offsets."""

    partitions: int = 3
    _logs: dict[str, list[list[ConsumerRecord]]] = field(default_factory=dict)
    _committed: dict[tuple[str, TopicPartition], int] = field(default_factory=dict)
    _members: set[str] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _partitioner: DefaultPartitioner = field(default_factory=DefaultPartitioner)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(
        self, *topics: str, group_id: str, auto_offset_reset: str = "earliest"
    ) -> MemoryConsumer:
        return MemoryConsumer(self, list(topics), group_id=group_id, reset=auto_offset_reset)

    def log(self, topic: str) -> list[list[ConsumerRecord]]:
        """The topic's partitions (created on first use, as the broker's auto-create)."""
        return self._logs.setdefault(topic, [[] for _ in range(self.partitions)])

    def records(self, topic: str) -> list[ConsumerRecord]:
        """Every record of `topic`, partition by partition."""
        return [record for partition in self.log(topic) for record in partition]

    def committed(self, group_id: str, partition: TopicPartition) -> int | None:
        return self._committed.get((group_id, partition))

    def append(
        self,
        topic: str,
        *,
        value: bytes | None,
        key: bytes | None,
        partition: int | None,
        headers: Headers | None,
    ) -> RecordMetadata:
        partitions = self.log(topic)
        if partition is None:
            every = list(range(len(partitions)))
            partition = self._partitioner(key, every, every)
        offset = len(partitions[partition])
        stamp = int(time.time() * 1000)
        partitions[partition].append(
            ConsumerRecord(
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp=stamp,
                timestamp_type=0,
                key=key,
                value=value,
                checksum=None,
                serialized_key_size=len(key) if key is not None else -1,
                serialized_value_size=len(value) if value is not None else -1,
                headers=tuple(headers or ()),
            )
        )
        self._arrived.set()
        return RecordMetadata(
            topic=topic,
            partition=partition,
            topic_partition=TopicPartition(topic, partition),
            offset=offset,
            timestamp=stamp,
            timestamp_type=0,
            log_start_offset=0,
        )

    async def arrival(self, within: float) -> None:
        """Until a record is appended, or `within` seconds."""
        self._arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), within)


class MemoryProducer:
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        # Raised by the next sends, one each (e.g. KafkaError, OSError).
        self.fail_sends: list[Exception] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Awaitable[Any]:
        if self.fail_sends:
            raise self.fail_sends.pop(0)
        acked: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        acked.set_result(
            self._broker.append(topic, value=value, key=key, partition=partition, headers=headers)
        )
        return acked

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Any:
        return await (await self.send(topic, value, key, partition, timestamp_ms, headers))


class MemoryConsumer:
    def __init__(
        self, broker: MemoryBroker, topics: list[str], *, group_id: str, reset: str
    ) -> None:
        if reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset {reset!r}")
        self._broker = broker
        self._topics = topics
        self._group = group_id
        self._reset = reset
        self._positions: dict[TopicPartition, int] = {}
        self._started = False
        # Raised by the next commits, one each (e.g. CommitFailedError after a rebalance).
        self.refuse_commits: list[Exception] = []

    async def start(self) -> None:
        if self._group in self._broker._members:
            raise RuntimeError(f"group {self._group} has a member already (one per group here)")
        self._broker._members.add(self._group)
        self._started = True
        for topic in self._topics:
            for number, records in enumerate(self._broker.log(topic)):
                tp = TopicPartition(topic, number)
                self._positions[tp] = self._start_of(tp, len(records))

    def _start_of(self, tp: TopicPartition, end: int) -> int:
        committed = self._broker.committed(self._group, tp)
        if committed is not None:
            return committed
        return 0 if self._reset == "earliest" else end

    async def stop(self) -> None:
        if self._started:
            self._broker._members.discard(self._group)
            self._started = False

    def assignment(self) -> set[TopicPartition]:
        return set(self._positions) if self._started else set()

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        found = self._fetch(partitions, max_records)
        if not found and timeout_ms > 0:
            await self._broker.arrival(timeout_ms / 1000)
            found = self._fetch(partitions, max_records)
        return found

    def _fetch(
        self, partitions: tuple[TopicPartition, ...], max_records: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        if not self._started:
            raise RuntimeError("the consumer is not started")
        room = max_records if max_records is not None else 500
        found: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in partitions or tuple(sorted(self._positions)):
            if room <= 0:
                break
            records = self._broker.log(tp.topic)[tp.partition][self._positions[tp] :][:room]
            if records:
                found[tp] = records
                self._positions[tp] += len(records)
                room -= len(records)
        return found

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        if self.refuse_commits:
            raise self.refuse_commits.pop(0)
        if not self._started:
            raise CommitFailedError("not a member of the group")
        for tp, offset in (offsets if offsets is not None else self._positions).items():
            self._broker._committed[(self._group, tp)] = offset

    async def seek_to_committed(
        self, *partitions: TopicPartition
    ) -> dict[TopicPartition, int | None]:
        if not partitions and not self.assignment():
            raise AssertionError("No partitions are currently assigned")  # as aiokafka
        chosen = partitions or tuple(self._positions)
        result: dict[TopicPartition, int | None] = {}
        for tp in chosen:
            committed = self._broker.committed(self._group, tp)
            result[tp] = committed
            if committed is not None:
                self._positions[tp] = committed
        return result

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions or tuple(self._positions):
            self._positions[tp] = 0

    def position(self, tp: TopicPartition) -> int:
        return self._positions[tp]
