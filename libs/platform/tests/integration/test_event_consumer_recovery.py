"""EventConsumer against a real broker when a commit does not go through: a stalled
commit gets a fresh Kafka consumer, a refused one (after a rebalance) does not stop
consumption, and in both cases every record is handled and finally committed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from onceonly.events.v1 import approval_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, ensure_topics, publish
from onceonly.platform.testing import eventually, unique_prefix

pytestmark = pytest.mark.integration

RECORDS = 6


async def committed(bootstrap: str, group: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await reader.start()
    try:
        return (await reader.committed(TopicPartition(topic, 0))) or 0
    finally:
        await reader.stop()


async def consume_with_first_commit(
    kafka_bootstrap: str, producer: AIOKafkaProducer, first_commit: Callable[..., Any]
) -> tuple[EventConsumer, list[str], int]:
    """Handle RECORDS records while the first Kafka consumer's first commit is
    `first_commit`; the consumer, the event ids handled, and the committed offset."""
    prefix = unique_prefix("recovery")
    topic, group = f"{prefix}.approval-events.v1", f"{prefix}-group"
    await ensure_topics(kafka_bootstrap, [topic, f"{prefix}.dlq"], partitions=1)
    sent = [
        new_envelope(
            approval_pb2.TaskStarted(application_code=f"A-{n}", department_code="tax"),
            source="/onceonly/test",
            application_code=f"A-{n}",
        )
        for n in range(RECORDS)
    ]
    for envelope in sent:
        await publish(producer, topic, envelope)
    handled: list[str] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        handled.append(envelope.id)

    events = EventConsumer(
        bootstrap=kafka_bootstrap,
        topics=[topic],
        group_id=group,
        consumer_name="recovery-test",
        dead_letter_topic=f"{prefix}.dlq",
        handler=handler,
        producer=producer,
        commit_timeout=1.0,
    )
    first = events._consumer  # the fault is injected into this one
    real_commit = first.commit
    calls = 0

    async def commit(offsets: Any = None) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await first_commit()
        await real_commit(offsets)

    first.commit = commit  # type: ignore[method-assign]
    await events.start()
    runner = asyncio.create_task(events.run())
    try:
        offset = await eventually(
            lambda: committed(kafka_bootstrap, group, topic),
            lambda n: n == RECORDS,
            within=60,
            what="all records committed",
        )
        assert set(handled) == {envelope.id for envelope in sent}
        return events, handled, offset
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await events.stop()


async def test_a_stalled_commit_replaces_the_consumer_and_nothing_is_skipped(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    async def forever() -> None:
        await asyncio.Event().wait()

    events, handled, offset = await consume_with_first_commit(kafka_bootstrap, producer, forever)
    assert events.replaced == 1
    assert offset == RECORDS
    # What was handled before the stalled commit was fetched and handled again.
    assert len(handled) > RECORDS


async def test_a_commit_refused_after_a_rebalance_does_not_stop_consumption(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    async def refused() -> None:
        raise CommitFailedError("the group rebalanced")

    events, handled, offset = await consume_with_first_commit(kafka_bootstrap, producer, refused)
    assert events.replaced == 0
    assert offset == RECORDS
    assert len(handled) > RECORDS
