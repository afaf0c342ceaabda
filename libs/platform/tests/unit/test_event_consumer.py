"""EventConsumer's processing of one message, without a broker: retried with backoff in
a span per attempt, parked on PermanentMessageError, counted."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from opentelemetry import trace

from onceonly.events.v1 import approval_pb2, envelope_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, PermanentMessageError
from onceonly.platform.telemetry import configure_telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class RecordingProducer:
    """Stands in for the dead-letter producer."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        if self.fail:
            raise OSError("broker unavailable")
        self.sent.append((topic, value, key))


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


def consumer(handler: Any, producer: RecordingProducer) -> EventConsumer:
    return EventConsumer(
        bootstrap="127.0.0.1:1",  # never started: _process needs no broker
        topics=["t.approval-events.v1"],
        group_id="unit",
        consumer_name="unit",
        dead_letter_topic="t.dlq.unit",
        handler=handler,
        producer=producer,  # type: ignore[arg-type]
    )


async def test_a_failing_handler_is_retried_each_attempt_in_its_own_span() -> None:
    configure_telemetry("platform-unit-test")  # a recording SDK provider
    spans: list[tuple[str, int]] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        context = trace.get_current_span().get_span_context()
        spans.append((format(context.trace_id, "032x"), context.span_id))
        if len(spans) < 3:
            raise OSError("postgres away")

    producer = RecordingProducer()
    events = consumer(handler, producer)
    _, record = message()
    await events._process(record)
    assert len(spans) == 3
    assert {trace_id for trace_id, _ in spans} == {TRACE_ID}
    assert len({span_id for _, span_id in spans}) == 3
    assert (events.processed, events.parked) == (1, 0)
    assert producer.sent == []


async def test_a_permanent_error_parks_the_message_at_once() -> None:
    calls = 0

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        nonlocal calls
        calls += 1
        raise PermanentMessageError("sealed with a key we do not hold")

    producer = RecordingProducer()
    events = consumer(handler, producer)
    envelope, record = message()
    await events._process(record)
    assert calls == 1
    assert (events.processed, events.parked) == (0, 1)
    [(topic, value, key)] = producer.sent
    assert (topic, key) == ("t.dlq.unit", b"T-1")
    letter = envelope_pb2.DeadLetter.FromString(value)
    assert letter.reason == "sealed with a key we do not hold"
    assert (letter.source_topic, letter.source_offset, letter.value) == (
        record.topic,
        5,
        envelope.data,
    )


async def test_a_dead_letter_that_cannot_be_written_is_not_swallowed() -> None:
    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        raise PermanentMessageError("poison")

    events = consumer(handler, RecordingProducer(fail=True))
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
    import asyncio

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

    events = EventConsumer(
        bootstrap="127.0.0.1:1",
        topics=["t.approval-events.v1"],
        group_id="unit",
        consumer_name="unit",
        dead_letter_topic="t.dlq.unit",
        handler=handler,
        producer=RecordingProducer(),  # type: ignore[arg-type]
        concurrency=3,
    )
    records = [keyed_record(f"A-{i % 5}".encode(), offset) for offset, i in enumerate(range(20))]
    await events.process_batch(records)
    assert events.processed == 20
    assert sorted(seen) == sorted((r.key, r.offset) for r in records)
    for key in {r.key for r in records}:
        offsets = [offset for k, offset in seen if k == key]
        assert offsets == sorted(offsets)
    assert 1 < most <= 3


def concurrent_consumer(handler: Any, concurrency: int) -> EventConsumer:
    return EventConsumer(
        bootstrap="127.0.0.1:1",
        topics=["t.approval-events.v1", "t.applicant-updates.v1"],
        group_id="unit",
        consumer_name="unit",
        dead_letter_topic="t.dlq.unit",
        handler=handler,
        producer=RecordingProducer(),  # type: ignore[arg-type]
        concurrency=concurrency,
    )


async def test_one_applications_events_on_two_topics_never_overlap() -> None:
    import asyncio

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
    import asyncio

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
        EventConsumer(
            bootstrap="127.0.0.1:1",
            topics=["t"],
            group_id="unit",
            consumer_name="unit",
            dead_letter_topic="t.dlq.unit",
            handler=None,  # type: ignore[arg-type]
            producer=RecordingProducer(),  # type: ignore[arg-type]
            concurrency=0,
        )


class RevokedConsumer:
    """A Kafka consumer whose commit is refused and which holds no partition any more."""

    def __init__(self) -> None:
        self.sought: list[object] = []

    async def commit(self, offsets: object) -> None:
        raise CommitFailedError("the group rebalanced")

    def assignment(self) -> set[object]:
        return set()

    async def seek_to_committed(self, *partitions: object) -> dict[object, int]:
        self.sought.append(partitions)  # with none: every assigned one, or an assertion
        raise AssertionError("No partitions are currently assigned")


async def test_a_refused_commit_for_partitions_no_longer_held_seeks_nothing() -> None:
    events = consumer(lambda envelope, record: None, RecordingProducer())
    revoked = RevokedConsumer()
    events._consumer = revoked  # type: ignore[assignment]
    assert await events._commit({TopicPartition("t.approval-events.v1", 0): 6}) is False
    assert revoked.sought == []
