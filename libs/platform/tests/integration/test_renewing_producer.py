"""After a failed batch leaves a gap in the idempotent producer's sequence, the real broker
refuses every later batch of that partition; build_producer's client starts afresh."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber

from onceonly.platform import kafka_connection
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.testing import TopicReader, unique_prefix

pytestmark = pytest.mark.integration


def leave_a_gap(client: AIOKafkaProducer, topic: str) -> None:
    """What aiokafka does to a batch that expires or fails after it was numbered: the
    numbers are spent, and nothing with them reached the log."""
    client._txn_manager.increment_sequence_number(TopicPartition(topic, 0), 5)  # type: ignore[attr-defined]


async def test_a_plain_idempotent_client_stays_refused_after_a_gap(kafka_bootstrap: str) -> None:
    topic = f"{unique_prefix('renew')}.events"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    client = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        **kafka_connection.client_options(),
        acks="all",
        enable_idempotence=True,
    )
    await client.start()
    try:
        await client.send_and_wait(topic, b"first", key=b"A")
        leave_a_gap(client, topic)
        for attempt in range(3):
            with pytest.raises(OutOfOrderSequenceNumber):
                await client.send_and_wait(topic, f"retry {attempt}".encode(), key=b"A")
    finally:
        await client.stop()


async def test_build_producers_client_recovers_from_a_gap(kafka_bootstrap: str) -> None:
    topic = f"{unique_prefix('renew')}.events"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = build_producer(kafka_bootstrap, client_id="test-renew")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first", key=b"A")
        leave_a_gap(producer._client, topic)  # type: ignore[arg-type]
        with pytest.raises(OutOfOrderSequenceNumber):
            await producer.send_and_wait(topic, b"lost in the gap", key=b"A")
        await producer.send_and_wait(topic, b"retried", key=b"A")
        await producer.send_and_wait(topic, b"next", key=b"A")
        assert producer.generation == 1
    finally:
        await producer.stop()
    async with TopicReader(kafka_bootstrap, topic) as reader:
        records = await reader.until(lambda records: len(records) >= 3, what="three records")
    assert [r.value for r in records] == [b"first", b"retried", b"next"]
