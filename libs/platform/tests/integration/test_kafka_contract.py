"""One contract for the Kafka ports (onceonly.platform.kafka_ports), run against the
real broker through aiokafka and against the in-memory broker that unit tests use: if
the two disagree, this suite says where."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.kafka_ports import Consumer, Producer
from onceonly.platform.memory_kafka import MemoryBroker
from onceonly.platform.testing import eventually, test_kafka_bootstrap, unique_prefix

pytestmark = pytest.mark.integration

PARTITIONS = 3


@dataclass
class Kafka:
    """A producer and a way to make group members, on one broker or the other."""

    producer: Producer
    consumer: Callable[..., Consumer]
    topic: str


@pytest_asyncio.fixture(params=["aiokafka", "memory"])
async def kafka(request: pytest.FixtureRequest) -> AsyncIterator[Kafka]:
    topic = f"{unique_prefix('contract')}.events"
    if request.param == "memory":
        broker = MemoryBroker(partitions=PARTITIONS)
        yield Kafka(
            broker.producer(),
            lambda group_id, reset="earliest": broker.consumer(
                topic, group_id=group_id, auto_offset_reset=reset
            ),
            topic,
        )
        return
    bootstrap = test_kafka_bootstrap()
    await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
    producer = build_producer(bootstrap, client_id="contract")
    await producer.start()
    yield Kafka(
        producer,
        lambda group_id, reset="earliest": AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=reset,
            isolation_level="read_committed",
        ),
        topic,
    )
    await producer.stop()


async def fetch_all(consumer: Consumer, count: int) -> list[ConsumerRecord]:
    """Records once `count` have come (within 20 s), in the order each partition gave them."""
    found: list[ConsumerRecord] = []

    async def fetch() -> list[ConsumerRecord]:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            found.extend(records)
        return found

    # No pause between fetches: each waits up to 500 ms for records to arrive.
    return await eventually(
        fetch, lambda found: len(found) >= count, within=20, interval=0, what=f"{count} records"
    )


async def send_keys(kafka: Kafka, keys: list[bytes]) -> None:
    for n, key in enumerate(keys):
        await kafka.producer.send_and_wait(
            kafka.topic, value=f"v{n}".encode(), key=key, headers=[("ce_id", f"id-{n}".encode())]
        )


async def test_records_come_back_whole_and_in_order_per_key(kafka: Kafka) -> None:
    keys = [b"A", b"B", b"C", b"A", b"B", b"A"]
    await send_keys(kafka, keys)
    consumer = kafka.consumer(unique_prefix("group"))
    await consumer.start()
    try:
        records = await fetch_all(consumer, len(keys))
    finally:
        await consumer.stop()
    assert len(records) == len(keys)
    by_key: dict[bytes, list[bytes]] = {}
    partitions: dict[bytes, set[int]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record.value)
        partitions.setdefault(record.key, set()).add(record.partition)
        assert record.topic == kafka.topic
        assert list(record.headers) == [("ce_id", b"id-" + record.value[1:])]
    assert by_key == {b"A": [b"v0", b"v3", b"v5"], b"B": [b"v1", b"v4"], b"C": [b"v2"]}
    assert all(len(found) == 1 for found in partitions.values())
    # The same partitions as aiokafka's default partitioner picks against the real broker.
    assert {key: found.pop() for key, found in partitions.items()} == {b"A": 1, b"B": 1, b"C": 1}


async def test_send_returns_the_acknowledgement_with_the_offset(kafka: Kafka) -> None:
    first = await (await kafka.producer.send(kafka.topic, value=b"1", key=b"K"))
    second = await (await kafka.producer.send(kafka.topic, value=b"2", key=b"K"))
    assert (first.topic, first.partition) == (second.topic, second.partition)
    assert second.offset == first.offset + 1


async def test_a_group_goes_on_from_its_commit(kafka: Kafka) -> None:
    await send_keys(kafka, [b"A"] * 4)
    group = unique_prefix("group")
    first = kafka.consumer(group)
    await first.start()
    try:
        records = await fetch_all(first, 4)
        # Committed past the second record only.
        tp = TopicPartition(kafka.topic, records[0].partition)
        await first.commit({tp: records[1].offset + 1})
    finally:
        await first.stop()
    again = kafka.consumer(group)
    await again.start()
    try:
        assert [r.value for r in await fetch_all(again, 2)] == [b"v2", b"v3"]
        assert tp in again.assignment()
    finally:
        await again.stop()


async def test_seek_to_committed_fetches_again_what_was_not_committed(kafka: Kafka) -> None:
    await send_keys(kafka, [b"A"] * 3)
    consumer = kafka.consumer(unique_prefix("group"))
    await consumer.start()
    try:
        records = await fetch_all(consumer, 3)
        tp = TopicPartition(kafka.topic, records[0].partition)
        # Nothing committed yet: no offset (EventConsumer then seeks to the beginning).
        assert await consumer.seek_to_committed(tp) == {tp: None}
        await consumer.commit({tp: records[0].offset + 1})
        assert await consumer.seek_to_committed(tp) == {tp: records[0].offset + 1}
        assert [r.value for r in await fetch_all(consumer, 2)] == [b"v1", b"v2"]
        await consumer.seek_to_beginning(tp)
        assert [r.value for r in await fetch_all(consumer, 3)] == [b"v0", b"v1", b"v2"]
    finally:
        await consumer.stop()


async def test_a_new_group_from_the_latest_sees_only_what_comes_after(kafka: Kafka) -> None:
    await send_keys(kafka, [b"A", b"B"])
    consumer = kafka.consumer(unique_prefix("group"), "latest")
    await consumer.start()
    try:
        # The real consumer joins its group while it fetches.
        async def assignment() -> set[TopicPartition]:
            assert await consumer.getmany(timeout_ms=250) == {}
            return consumer.assignment()

        await eventually(assignment, within=10, interval=0, what="an assignment")
        assert len(consumer.assignment()) == PARTITIONS
        await kafka.producer.send_and_wait(kafka.topic, value=b"late", key=b"A")
        assert [r.value for r in await fetch_all(consumer, 1)] == [b"late"]
    finally:
        await consumer.stop()


async def test_an_idle_fetch_returns_nothing_after_its_timeout(kafka: Kafka) -> None:
    consumer = kafka.consumer(unique_prefix("group"))
    await consumer.start()
    try:
        assert await consumer.getmany(timeout_ms=200) == {}
    finally:
        await consumer.stop()
