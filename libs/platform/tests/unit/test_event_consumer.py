"""EventConsumer's processing of one message, without a broker: retried with backoff in
a span per attempt, parked on PermanentMessageError, counted."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from opentelemetry import trace

from onceonly.events.v1 import approval_pb2, envelope_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, PermanentMessageError
from onceonly.platform.memory_kafka import MemoryBroker, MemoryConsumer, MemoryProducer
from onceonly.platform.telemetry import configure_telemetry
from onceonly.platform.testing import eventually

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def message() -> tuple[Envelope, ConsumerRecord]:
    envelope = new_envelope(
        approval_pb2.TaskStarted(application_code="T-1", department_code="tax"),
        source="/onceonly/test",
        application_code="T-1",
        trace_headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    record = ConsumerRecord(
        topic="t.approval-events.v1",
        partition=0,
        offset=5,
        timestamp=0,
        timestamp_type=0,
        key=b"T-1",
        value=envelope.data,
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=len(envelope.data),
        headers=envelope.headers(),
    )
    return envelope, record


DEAD_LETTERS = "t.dlq.unit"


def consumer(
    handler: Any,
    broker: MemoryBroker,
    *,
    concurrency: int = 1,
    topics: tuple[str, ...] = (),
    producer: MemoryProducer | None = None,
) -> EventConsumer:
    topics = topics or ("t.approval-events.v1",)
    return EventConsumer(
        bootstrap="unused",  # the in-memory broker's member instead
        topics=list(topics),
        group_id="unit",
        consumer_name="unit",
        dead_letter_topic=DEAD_LETTERS,
        handler=handler,
        producer=producer or broker.producer(),
        concurrency=concurrency,
        new_consumer=lambda: broker.consumer(*topics, group_id="unit"),
    )


async def test_a_failing_handler_is_retried_each_attempt_in_its_own_span() -> None:
    configure_telemetry("platform-unit-test")  # a recording SDK provider
    spans: list[tuple[str, int]] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        context = trace.get_current_span().get_span_context()
        spans.append((format(context.trace_id, "032x"), context.span_id))
        if len(spans) < 3:
            raise OSError("postgres away")

    broker = MemoryBroker()
    events = consumer(handler, broker)
    _, record = message()
    await events._process(record)
    assert len(spans) == 3
    assert {trace_id for trace_id, _ in spans} == {TRACE_ID}
    assert len({span_id for _, span_id in spans}) == 3
    assert (events.processed, events.parked) == (1, 0)
    assert broker.records(DEAD_LETTERS) == []


async def test_a_permanent_error_parks_the_message_at_once() -> None:
    calls = 0

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        nonlocal calls
        calls += 1
        raise PermanentMessageError("sealed with a key we do not hold")

    broker = MemoryBroker()
    events = consumer(handler, broker)
    envelope, record = message()
    await events._process(record)
    assert calls == 1
    assert (events.processed, events.parked) == (0, 1)
    [parked] = broker.records(DEAD_LETTERS)
    assert parked.key == b"T-1"
    letter = envelope_pb2.DeadLetter.FromString(parked.value)
    assert letter.reason == "sealed with a key we do not hold"
    assert (letter.source_topic, letter.source_offset, letter.value) == (
        record.topic,
        5,
        envelope.data,
    )


async def test_a_dead_letter_that_cannot_be_written_is_not_swallowed() -> None:
    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        raise PermanentMessageError("poison")

    broker = MemoryBroker()
    producer = broker.producer()
    producer.fail_sends.append(OSError("broker unavailable"))
    events = consumer(handler, broker, producer=producer)
    _, record = message()
    with pytest.raises(OSError, match="broker unavailable"):
        await events._process(record)
    assert (events.processed, events.parked) == (0, 0)


def keyed_record(
    key: bytes | None, offset: int, partition: int = 0, topic: str | None = None
) -> ConsumerRecord:
    _, template = message()
    return ConsumerRecord(
        topic=topic or template.topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=template.value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(template.value or b""),
        headers=template.headers,
    )


async def test_a_batch_is_handled_concurrently_across_keys_and_in_order_within_a_key() -> None:
    seen: list[tuple[bytes, int]] = []
    running = 0
    most = 0

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01 if record.offset % 2 else 0.001)
        seen.append((record.key, record.offset))
        running -= 1

    events = consumer(handler, MemoryBroker(), concurrency=3)
    records = [keyed_record(f"A-{i % 5}".encode(), offset) for offset, i in enumerate(range(20))]
    await events.process_batch(records)
    assert events.processed == 20
    assert sorted(seen) == sorted((r.key, r.offset) for r in records)
    for key in {r.key for r in records}:
        offsets = [offset for k, offset in seen if k == key]
        assert offsets == sorted(offsets)
    assert 1 < most <= 3


def concurrent_consumer(handler: Any, concurrency: int) -> EventConsumer:
    return consumer(
        handler,
        MemoryBroker(),
        concurrency=concurrency,
        topics=("t.approval-events.v1", "t.applicant-updates.v1"),
    )


async def test_one_applications_events_on_two_topics_never_overlap() -> None:
    running: dict[bytes | None, int] = {}
    overlaps: list[bytes | None] = []
    seen: list[tuple[str, int]] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        running[record.key] = running.get(record.key, 0) + 1
        if running[record.key] > 1:
            overlaps.append(record.key)
        await asyncio.sleep(0.005)
        seen.append((record.topic, record.offset))
        running[record.key] -= 1

    # The same two applications on both topics, as one fetch returns them: per topic.
    records = [
        keyed_record(key, offset, topic="t.approval-events.v1")
        for offset, key in enumerate([b"A", b"B", b"A", b"B"])
    ] + [
        keyed_record(key, offset, topic="t.applicant-updates.v1")
        for offset, key in enumerate([b"A", b"B"])
    ]
    await concurrent_consumer(handler, concurrency=8).process_batch(records)
    assert overlaps == []
    assert len(seen) == 6
    # Per key, in the order fetched.
    for key in (b"A", b"B"):
        fetched = [(r.topic, r.offset) for r in records if r.key == key]
        assert [s for s in seen if s in fetched] == fetched


async def test_unkeyed_records_keep_their_partitions_order() -> None:
    seen: list[tuple[int, int]] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        await asyncio.sleep(0.004 if record.offset % 2 == 0 else 0.001)
        seen.append((record.partition, record.offset))

    records = [keyed_record(None, offset, partition=offset % 2) for offset in range(10)]
    await concurrent_consumer(handler, concurrency=4).process_batch(records)
    for partition in (0, 1):
        offsets = [o for p, o in seen if p == partition]
        assert offsets == sorted(offsets) and len(offsets) == 5


def test_concurrency_is_at_least_one() -> None:
    with pytest.raises(ValueError):
        consumer(None, MemoryBroker(), concurrency=0)


async def test_a_refused_commit_for_partitions_no_longer_held_seeks_nothing() -> None:
    broker = MemoryBroker()
    events = consumer(lambda envelope, record: None, broker)
    # Not a member any more (its partitions were revoked), and the commit is refused:
    # seek_to_committed() with no partition would assert, as aiokafka's does.
    member = events._consumer
    assert isinstance(member, MemoryConsumer) and member.assignment() == set()
    member.refuse_commits.append(CommitFailedError("the group rebalanced"))
    assert await events._commit({TopicPartition("t.approval-events.v1", 0): 6}) is False
    with pytest.raises(AssertionError, match="No partitions are currently assigned"):
        await member.seek_to_committed()


async def test_a_commit_of_a_partition_taken_away_is_refused_not_fatal() -> None:
    """aiokafka raises IllegalStateError (not CommitFailedError) when the partition was
    revoked before the commit: the records are fetched again by whoever holds it."""
    broker = MemoryBroker()
    events = consumer(lambda envelope, record: None, broker)
    member = events._consumer
    assert isinstance(member, MemoryConsumer)
    member.refuse_commits.append(IllegalStateError("Partition t-0 is not assigned"))
    assert await events._commit({TopicPartition("t.approval-events.v1", 0): 6}) is False


async def test_run_commits_what_it_handled_and_parks_poison() -> None:
    """The whole loop on the in-memory broker: fetch, handle, park, commit."""
    broker = MemoryBroker()
    handled: list[int] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        handled.append(record.offset)

    events = consumer(handler, broker)
    good, _ = message()
    producer = broker.producer()
    for n in range(3):
        await producer.send_and_wait(
            "t.approval-events.v1", value=good.data, key=b"T-1", headers=good.headers()
        )
        if n == 1:
            await producer.send_and_wait("t.approval-events.v1", value=b"junk", key=b"T-1")
    await events.start()
    running = asyncio.create_task(events.run())
    try:
        await eventually(lambda: _committed(broker), lambda offset: offset == 4, within=5)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await events.stop()
    assert handled == [0, 1, 3]
    [parked] = broker.records(DEAD_LETTERS)
    assert envelope_pb2.DeadLetter.FromString(parked.value).source_offset == 2


async def _committed(broker: MemoryBroker) -> int | None:
    partition = broker.records("t.approval-events.v1")[0].partition
    return broker.committed("unit", TopicPartition("t.approval-events.v1", partition))
