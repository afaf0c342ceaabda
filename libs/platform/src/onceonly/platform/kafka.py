"""Kafka producer and consumer with CloudEvents headers, trace context and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace

from onceonly.events.v1 import envelope_pb2
from onceonly.platform import kafka_connection
from onceonly.platform.deferral import Attempt, Deferrals, DeferredRecord, EventNotReady
from onceonly.platform.diagnostics import waiting_tasks
from onceonly.platform.envelope import Envelope, EnvelopeError, header_pairs
from onceonly.platform.events import UnknownEventType
from onceonly.platform.kafka_ports import Consumer, Located, Producer
from onceonly.platform.metrics import ConsumerCounters
from onceonly.platform.renewing_producer import RenewingProducer
from onceonly.platform.retry import retry_forever
from onceonly.platform.telemetry import attached, consumer_span

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("onceonly.platform.kafka")


# A fetch is answered when this much has arrived or after this long. With the client's
# defaults (1 byte, 500 ms) every small publish woke every consumer of its topic for a
# fetch and a commit of its own: under a steady load the broker spent more CPU per
# application than any process but the worker (bench, 2026-12-05: 18-21 ms of Kafka's CPU
# per application at 8/s, 12.5 with 100 ms). The wait is also the idle poll: at rest,
# 100 ms cost Kafka about 20 ms of CPU a second more than 500 ms, and each consumer 3-4;
# 200 ms is the middle, at most 200 ms more per hop.
FETCH_MIN_BYTES = 64 * 1024
FETCH_MAX_WAIT_MS = 200


class PermanentMessageError(Exception):
    """A message that will never be processed: park it on the dead-letter topic."""


def build_producer(bootstrap: str, *, client_id: str) -> RenewingProducer:
    """An idempotent producer that waits for all in-sync replicas, and starts afresh
    after a failed delivery (why: onceonly.platform.renewing_producer)."""
    return RenewingProducer(
        lambda: AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            **kafka_connection.client_options(),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=15000,
        )
    )


async def publish(producer: Producer, topic: str, envelope: Envelope) -> None:
    """Send one event keyed by its application code and wait for the broker's ack."""
    await publish_all(producer, topic, [envelope])


async def publish_all(producer: Producer, topic: str, envelopes: list[Envelope]) -> None:
    """Send events in the given order and wait for all the broker's acks: one round trip
    for the lot. One key's events stay in order on their partition, retries included:
    the producer is idempotent."""
    acks = [
        await producer.send(
            topic, value=envelope.data, key=envelope.subject.encode(), headers=envelope.headers()
        )
        for envelope in envelopes
    ]
    await asyncio.gather(*acks)


async def ensure_topics(
    bootstrap: str, topics: list[str], *, partitions: int | None = None
) -> None:
    """Create the topics that do not exist yet, laid out as the settings say
    (`kafka_connection.layout()`: partitions, replication factor, min.insync.replicas);
    `partitions` overrides the count where a consumer depends on it (faust's tables)."""
    layout = kafka_connection.layout()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_connection.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            new = [
                NewTopic(
                    name=t,
                    num_partitions=partitions or layout.partitions,
                    replication_factor=layout.replication_factor,
                    topic_configs=layout.topic_configs(),
                )
                for t in missing
            ]
            # Another process may have created one first; that is the outcome we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                response = await admin.create_topics(new)
                _raise_topic_errors(response.topic_errors)
            await _until_described(admin, missing)
    finally:
        await admin.close()


# The controller answers CreateTopics once the topic is in its metadata log; each broker
# learns of it a little later. A caller that describes or produces at once could meet a
# broker that does not know it yet (a three-broker CI run described none of the
# partitions just created), so the topics are waited for here, within this bound.
TOPIC_VISIBLE_WITHIN_S = 30.0


async def _until_described(admin: AIOKafkaAdminClient, topics: list[str]) -> None:
    """Wait until the brokers describe every topic with a leader on each partition."""
    deadline = asyncio.get_running_loop().time() + TOPIC_VISIBLE_WITHIN_S
    while True:
        waiting = not_yet_described(await admin.describe_topics(topics), topics)
        if not waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise KafkaError(f"topics not described by the brokers: {waiting}")
        await asyncio.sleep(0.1)


def not_yet_described(described: list[dict[str, Any]], topics: list[str]) -> list[str]:
    """The topics a metadata answer does not show as usable: unknown, in error, or with
    a partition that has no leader yet."""
    ready = {
        topic["topic"]
        for topic in described
        if topic["error_code"] == 0
        and topic["partitions"]
        and all(partition["leader"] >= 0 for partition in topic["partitions"])
    }
    return sorted(set(topics) - ready)


def _raise_topic_errors(topic_errors: list[tuple[Any, ...]]) -> None:
    """The broker answers a refused topic (a replication factor above its brokers, a
    config it rejects) with an error code per topic, not an exception."""
    for topic, code, *message in topic_errors:
        error = for_code(code)
        if code and error is not TopicAlreadyExistsError:
            detail = message[0] if message and message[0] else error.__name__
            raise error(f"topic {topic}: {detail}")


def dead_letter(record: Located, *, consumer: str, reason: str) -> envelope_pb2.DeadLetter:
    parked_at = Timestamp()
    parked_at.FromDatetime(datetime.now(UTC))
    return envelope_pb2.DeadLetter(
        consumer=consumer,
        reason=reason,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        key=record.key or b"",
        value=record.value or b"",
        headers=header_pairs(record.headers),
        parked_at=parked_at,
    )


Handler = Callable[[Envelope, ConsumerRecord], Awaitable[None]]


class EventConsumer:
    """Consumes topics at least once: commit after the handler succeeds.

    The handler must be idempotent by event id. A message that cannot be decoded, or
    whose handler raises PermanentMessageError, goes to the dead-letter topic and the
    consumer goes on; any other error is retried with backoff and blocks the partition,
    so nothing is skipped.

    A handler that raises EventNotReady (the event needs another one first, which Kafka
    may deliver later from another topic) has its message deferred with `deferrals`
    (onceonly.platform.deferral): only that application waits, and the message is handled
    right after the next event of its application is, or by the periodic sweep. Without
    `deferrals`, EventNotReady is retried in place like any other error.

    With `concurrency` above 1, the messages of a fetched batch are handled up to that
    many at a time, those with the same key (the application code), whatever their
    topic, one after the other in the order fetched (offset order within a partition),
    and the offsets are committed once the whole batch is handled: the order per
    application and at-least-once hold as with one at a time, and a handler that waits
    on a remote call (a workflow start, a database round trip) does not make the whole
    partition wait for each call in turn.

    A commit that takes longer than `commit_timeout` (twice the longest broker restart
    the fault-injection runs have seen) counts as stalled: the Kafka consumer is
    replaced by a new one, which fetches again from the last commit, and the log
    records where the old one was waiting. A commit refused after a rebalance rewinds
    the partitions still held to the last commit.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        topics: list[str],
        group_id: str,
        consumer_name: str,
        dead_letter_topic: str,
        handler: Handler,
        producer: Producer,
        concurrency: int = 1,
        commit_timeout: float = 60.0,
        deferrals: Deferrals | None = None,
        new_consumer: Callable[[], Consumer] | None = None,
    ) -> None:
        """`new_consumer` makes the group member (the in-memory one in unit tests); by
        default an aiokafka consumer of `topics` in `group_id` on `bootstrap`."""
        if concurrency < 1:
            raise ValueError("concurrency >= 1")
        self._concurrency = concurrency
        self._topics = list(topics)
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._commit_timeout = commit_timeout
        self._make_consumer = new_consumer or self._aiokafka_consumer
        self._consumer: Consumer = self._make_consumer()
        self._name = consumer_name
        self._dlq = dead_letter_topic
        self._handler = handler
        self._producer = producer
        self._deferrals = deferrals
        self.processed = 0
        self.parked = 0
        self.replaced = 0
        self._counters = ConsumerCounters.of(consumer_name)

    def _aiokafka_consumer(self) -> Consumer:
        return AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            **kafka_connection.client_options(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_min_bytes=FETCH_MIN_BYTES,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        )

    async def start(self) -> None:
        if self._deferrals is not None:
            deferrals = self._deferrals
            await retry_forever(
                deferrals.load, what="loading deferred events", log_fields={"consumer": self._name}
            )
        await self._consumer.start()

    async def stop(self, *, within: float = 15.0) -> None:
        """Leave the group and close; bounded, because aiokafka's stop can wait for ever
        on a coordinator request cut off mid-way (a test's teardown waited 300 s for it,
        2026-12-05), and a process that is stopping must stop."""
        try:
            await asyncio.wait_for(self._consumer.stop(), within)
        except TimeoutError:
            log.warning("kafka consumer did not stop in time; abandoned", seconds=within)

    async def run(self) -> None:
        """Process until cancelled."""
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=200)
            if self._concurrency == 1:
                for tp, records in batches.items():
                    for record in records:
                        await self._process(record)
                    if not await self._commit({tp: records[-1].offset + 1}):
                        break  # the rest of the batch is fetched again
            elif batches:
                await self.process_batch([r for records in batches.values() for r in records])
                await self._commit(
                    {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
                )
            # Between batches, so that no application's records race their own retry.
            if self._deferrals is not None and self._deferrals.sweep_due():
                await self._deferrals.sweep(self._try_deferred, self._park_deferred)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit `offsets`; False when they could not be, and the records after the
        last commit will be fetched and handled again (handlers are idempotent)."""
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), self._commit_timeout)
            return True
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced while the batch was handled: whoever holds the
            # partitions now starts from the last commit, and so do we with those we
            # kept. Not a reason to stop consuming. IllegalStateError is aiokafka's
            # answer when the rebalance already took a partition away before the commit
            # ("... is not assigned"): a bridge thawed after its twin took its partitions
            # died of it in a fault-injection run (2026-12-05).
            log.warning("commit refused after a rebalance", consumer=self._name, error=str(exc))
            kept = [tp for tp in offsets if tp in self._consumer.assignment()]
            if kept:  # (none given, seek_to_committed would take every assigned one)
                with contextlib.suppress(KafkaError):
                    for tp, offset in (await self._consumer.seek_to_committed(*kept)).items():
                        if not offset:  # nothing committed yet: auto_offset_reset="earliest"
                            await self._consumer.seek_to_beginning(tp)
            return False
        except TimeoutError:
            # Seen in a fault-injection run: after a broker restart, an aiokafka consumer
            # whose metadata refresh never completed again (compare aio-libs/aiokafka#712)
            # never found its group coordinator, and its commit waited forever while the
            # broker was back. A fresh consumer recovers; the log keeps where it waited.
            log.error(
                "commit stalled; replacing the kafka consumer",
                consumer=self._name,
                waited_seconds=self._commit_timeout,
                waiting=waiting_tasks("aiokafka"),
            )
            await self._replace_consumer()
            return False

    async def _replace_consumer(self) -> None:
        stalled = self._consumer
        # Leaving the group lets the new member take the partitions at once; but the
        # stalled consumer's stop may hang on the same wait, so it is bounded.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stalled.stop(), 10.0)

        async def started() -> Consumer:
            consumer = self._make_consumer()
            try:
                await consumer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await consumer.stop()
                raise
            return consumer

        self._consumer = await retry_forever(
            started, what="kafka consumer start", log_fields={"consumer": self._name}
        )
        self.replaced += 1
        log.warning("kafka consumer replaced", consumer=self._name, replaced=self.replaced)

    async def process_batch(self, records: list[ConsumerRecord]) -> None:
        """Handle `records` up to `concurrency` at a time; those of one key (across
        topics), and unkeyed ones of one partition, in order. Returns when all are
        handled (or parked)."""
        lanes: dict[bytes | tuple[str, int], list[ConsumerRecord]] = {}
        for record in records:
            # One application's events on different topics (a submission, its
            # applicant's update) must not race each other either.
            key = record.key if record.key is not None else (record.topic, record.partition)
            lanes.setdefault(key, []).append(record)
        slots = asyncio.Semaphore(self._concurrency)

        async def in_order(lane: list[ConsumerRecord]) -> None:
            async with slots:
                for record in lane:
                    await self._process(record)

        async with asyncio.TaskGroup() as group:
            for lane in lanes.values():
                group.create_task(in_order(lane))

    async def _process(self, record: ConsumerRecord) -> None:
        envelope = await self._decoded(record)
        if envelope is None:
            return
        deferrals = self._deferrals
        if deferrals is not None and deferrals.is_behind(
            record.key, record.topic, record.partition
        ):
            # Kafka's order within the partition holds for this application too.
            await self._defer(record, "an earlier deferred event of its partition")
            return
        not_ready = await self._handle(envelope, record)
        if not_ready is not None:
            await self._defer(record, not_ready.waiting_for)
        elif deferrals is not None and record.key is not None and deferrals.has(record.key):
            # What its deferred events wait for may just have been handled. Retried while
            # the store is away: handling a deferred record twice is harmless.
            key = record.key
            await retry_forever(
                lambda: deferrals.release(key, self._try_deferred, self._park_deferred),
                what="releasing deferred events",
                log_fields={"consumer": self._name},
            )

    async def _handle(self, envelope: Envelope, record: ConsumerRecord) -> EventNotReady | None:
        """Run the handler until it succeeds (parking a permanent failure); the
        EventNotReady it raised when the event must wait, and deferrals are on."""
        permanent: tuple[type[Exception], ...] = (PermanentMessageError,)
        if self._deferrals is not None:
            permanent = (PermanentMessageError, EventNotReady)
        trace_headers = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        # A span per attempt, and the parking of a permanent failure, in the message's trace.
        with attached(trace_headers, application_code=envelope.subject):
            try:
                await retry_forever(
                    lambda: self._handler(envelope, record),
                    what="handler",
                    permanent=permanent,
                    attempt_context=lambda: consumer_span(
                        tracer,
                        f"{self._name} process {envelope.type.rsplit('.', 1)[-1]}",
                        topic=record.topic,
                        message_id=envelope.id,
                        application_code=envelope.subject,
                    ),
                    log_fields={
                        "consumer": self._name,
                        "event_id": envelope.id,
                        "application_code": envelope.subject,
                    },
                )
            except PermanentMessageError as exc:
                await self._park(record, str(exc))
                return None
            except EventNotReady as exc:
                return exc
        self.processed += 1
        self._counters.handled.inc()
        return None

    async def _decoded(self, record: ConsumerRecord) -> Envelope | None:
        """The record's envelope, its body decodable with a known schema; None once a
        record that is not is parked."""
        try:
            envelope = Envelope.from_kafka(record.headers, record.value or b"")
            envelope.message()
        except (EnvelopeError, UnknownEventType, DecodeError) as exc:
            await self._park(record, f"{type(exc).__name__}: {exc}")
            return None
        return envelope

    async def _defer(self, record: ConsumerRecord, waiting_for: str) -> None:
        assert self._deferrals is not None
        deferrals = self._deferrals
        await retry_forever(
            lambda: deferrals.defer(record, waiting_for),
            what="deferring an event",
            log_fields={"consumer": self._name, "topic": record.topic, "offset": record.offset},
        )

    async def _try_deferred(self, deferred: DeferredRecord) -> Attempt:
        record = consumer_record(deferred)
        envelope = await self._decoded(record)
        if envelope is not None and await self._handle(envelope, record) is not None:
            return Attempt.WAITING
        return Attempt.HANDLED

    async def _park_deferred(self, deferred: DeferredRecord, reason: str) -> None:
        await retry_forever(
            lambda: self._park(deferred, reason),
            what="parking a deferred event",
            log_fields={"consumer": self._name, "offset": deferred.offset},
        )

    async def _park(self, record: Located, reason: str) -> None:
        log.error(
            "message parked on dead-letter topic",
            consumer=self._name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        letter = dead_letter(record, consumer=self._name, reason=reason)
        await self._producer.send_and_wait(
            self._dlq, value=letter.SerializeToString(), key=record.key
        )
        self.parked += 1
        self._counters.dead_lettered.inc()


def consumer_record(deferred: DeferredRecord) -> ConsumerRecord:
    """A deferred record in the shape handlers and dead letters read (its timestamp is
    when it was deferred)."""
    return ConsumerRecord(
        topic=deferred.topic,
        partition=deferred.partition,
        offset=deferred.offset,
        timestamp=int(deferred.deferred_at.timestamp() * 1000),
        timestamp_type=0,
        key=deferred.key,
        value=deferred.value,
        checksum=None,
        serialized_key_size=len(deferred.key),
        serialized_value_size=len(deferred.value),
        headers=deferred.headers,
    )


async def wait_for_kafka(bootstrap: str, *, attempts: int = 60) -> None:
    """Wait until the broker answers, for processes that start before it."""
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, **kafka_connection.client_options()
        )
        try:
            await admin.start()
            await admin.list_topics()
            return
        except KafkaError as exc:
            log.info("waiting for kafka", attempt=attempt, error=str(exc))
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
    raise RuntimeError(f"Kafka at {bootstrap} did not answer")
