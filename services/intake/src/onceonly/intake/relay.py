"""The outbox relay: publishes committed outbox rows to Kafka, then marks them sent.

Rows are taken in id order with FOR UPDATE SKIP LOCKED, sent with the idempotent
producer (acks=all) carrying the headers stored with them (so the submission's trace
continues), and marked published in the same transaction once the broker has acked.
If Kafka or Postgres is away the batch rolls back, the rows stay, and the relay backs
off and tries again: nothing is lost, and a row is at worst published twice (consumers
deduplicate by event id). A NOTIFY that the API sends once the rows have committed
wakes it at once (relay_wake.py); otherwise it polls. The relay process also runs the
approval follower (approval_follower.py), intake's other Kafka-facing background job.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import propagate, trace

from onceonly.intake import metrics, outbox
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.outbox import PendingRow
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore
from onceonly.platform.db import DATABASE_TROUBLE, create_pool, prepare_database
from onceonly.platform.heartbeat import run_heartbeat
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.telemetry import context_from_headers
from onceonly.platform.topics import all_topics

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("onceonly.intake.relay")

RELAY_COMPONENT = "intake-relay"
_HOUSEKEEPING_EVERY = 600.0
_LISTEN_RETRY_EVERY = 5.0


def _trace_fields(span: trace.Span) -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return {
        "traceparent": carrier.get("traceparent", ""),
        "tracestate": carrier.get("tracestate", ""),
    }


class RelayError(RuntimeError):
    """A batch could not be published; its rows stay in the outbox."""


class OutboxRelay:
    """Publishes the outbox of one deployment (topic prefix) to Kafka."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        dsn: str,
        bootstrap: str,
        topic_prefix: str,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        publish_timeout: float = 30.0,
        max_backoff: float = 30.0,
        retention_hours: float = 72.0,
        idempotency_ttl_hours: float = 24.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        # Read at every (re)connection to the broker.
        self.bootstrap = bootstrap
        self._prefix = topic_prefix
        self._batch = batch_size
        self._poll = poll_seconds
        self._timeout = publish_timeout
        self._max_backoff = max_backoff
        self._retention = retention_hours
        self._idempotency_ttl = idempotency_ttl_hours
        self._producer: AIOKafkaProducer | None = None
        self._topics_ready = False
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._listen_attempt = 0.0
        self.published = 0
        self.failures = 0
        self.backlog = 0
        self.last_error = ""
        # True while the loop waits for a NOTIFY or its next poll.
        self.idle = False

    @classmethod
    def from_settings(cls, pool: asyncpg.Pool, settings: IntakeSettings) -> OutboxRelay:
        return cls(
            pool,
            dsn=settings.database_url,
            bootstrap=settings.kafka_bootstrap,
            topic_prefix=settings.topic_prefix,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
            publish_timeout=settings.relay_publish_timeout_seconds,
            max_backoff=settings.relay_max_backoff_seconds,
            retention_hours=settings.outbox_retention_hours,
            idempotency_ttl_hours=settings.idempotency_ttl_hours,
        )

    # -- one batch -------------------------------------------------------------------

    async def publish_pending(self) -> int:
        """Publish one batch; the number of rows published (0: nothing pending).

        Raises RelayError when Kafka did not take the batch (the rows stay pending).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await outbox.claim_batch(conn, topic_prefix=self._prefix, limit=self._batch)
            if not rows:
                return 0
            try:
                producer = await asyncio.wait_for(self._producer_ready(), self._timeout)
                await asyncio.wait_for(self._send(producer, rows), self._timeout)
            except (KafkaError, OSError, TimeoutError) as exc:
                await self._drop_producer()
                raise RelayError(f"{type(exc).__name__}: {exc}") from exc
            await outbox.mark_published(conn, [row.id for row in rows])
        self.published += len(rows)
        metrics.RELAY_PUBLISHED.inc(len(rows))
        return len(rows)

    async def connect(self) -> bool:
        """Create the topics and connect the producer now rather than at the first row;
        False (and logged) if Kafka is not there yet."""
        try:
            await asyncio.wait_for(self._producer_ready(), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("kafka not reachable yet", bootstrap=self.bootstrap, error=self.last_error)
            return False
        return True

    async def _send(self, producer: AIOKafkaProducer, rows: list[PendingRow]) -> None:
        # All sends first, then all acks: the batch costs one round of acks, and the
        # idempotent producer keeps each partition in send order.
        spans = []
        acks = []
        try:
            for row in rows:
                envelope = row.record.envelope
                span = tracer.start_span(
                    f"{row.record.topic} publish",
                    context=context_from_headers(
                        {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
                    ),
                    kind=trace.SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": row.record.topic,
                        "messaging.message.id": envelope.id,
                        "onceonly.application_code": envelope.subject,
                    },
                )
                spans.append(span)
                # Consumers continue from this publish span, which continues the request
                # (with no tracer installed the span is invalid: keep the stored context).
                if span.get_span_context().is_valid:
                    envelope = replace(envelope, **_trace_fields(span))
                acks.append(
                    await producer.send(
                        row.record.topic,
                        value=envelope.data,
                        key=envelope.subject.encode(),
                        headers=envelope.headers(),
                    )
                )
            results = await asyncio.gather(*acks, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        finally:
            for span in spans:
                span.end()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        producer = build_producer(self.bootstrap, client_id="onceonly-intake-relay")
        try:
            if not self._topics_ready:
                await ensure_topics(self.bootstrap, all_topics(self._prefix))
                self._topics_ready = True
            await producer.start()
        except BaseException:
            # Includes the cancellation of a timed-out start: never leak a half-started
            # client.
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer
        log.info("connected to kafka", bootstrap=self.bootstrap)
        return producer

    async def _drop_producer(self) -> None:
        # After a failed batch the producer's state (sequence numbers, in-flight
        # batches) is suspect: the next attempt starts with a fresh one.
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    # -- the loop --------------------------------------------------------------------

    async def run(self) -> None:
        """Publish until cancelled."""
        backoff = 0.0
        next_housekeeping = time.monotonic()
        try:
            await self.connect()
            while True:
                await self._listen()
                self._wake.clear()
                try:
                    published = await self.publish_pending()
                except (RelayError, *DATABASE_TROUBLE) as exc:
                    backoff = min(max(backoff * 2, 0.25), self._max_backoff)
                    self.failures += 1
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    metrics.RELAY_FAILURES.inc()
                    log.warning(
                        "outbox batch not published; rows stay, retrying",
                        error=self.last_error,
                        retry_in=backoff,
                    )
                    await asyncio.sleep(backoff)
                    continue
                backoff = 0.0
                self.last_error = ""
                if time.monotonic() >= next_housekeeping:
                    await self._housekeeping()
                    next_housekeeping = time.monotonic() + _HOUSEKEEPING_EVERY
                if published >= self._batch:
                    continue  # more may be waiting
                self.idle = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                self.idle = False
        finally:
            await self.close()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def _listen(self) -> None:
        """Keep a connection LISTENing for committed outbox rows; polling covers the gaps."""
        if self.listening or time.monotonic() - self._listen_attempt < _LISTEN_RETRY_EVERY:
            return
        self._listen_attempt = time.monotonic()
        listener: asyncpg.Connection | None = None
        try:
            listener = await asyncpg.connect(self._dsn, timeout=5)
            await listener.add_listener(outbox.NOTIFY_CHANNEL, self._notified)
        except (*DATABASE_TROUBLE, TimeoutError) as exc:
            log.warning("cannot listen for outbox inserts; polling", error=type(exc).__name__)
            if listener is not None:
                listener.terminate()
            return
        self._listener = listener

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _housekeeping(self) -> None:
        try:
            purged = await outbox.purge_published(self._pool, older_than_hours=self._retention)
            expired = await ApplicationStore(self._pool).purge_idempotency_keys(
                older_than_hours=self._idempotency_ttl
            )
        except DATABASE_TROUBLE as exc:
            log.warning("outbox housekeeping failed", error=type(exc).__name__)
            return
        if purged or expired:
            log.info("outbox housekeeping", outbox_rows=purged, idempotency_keys=expired)

    async def measure_backlog(self, every: float) -> None:
        """Keep `backlog` (for the heartbeat) and the backlog gauges current."""
        while True:
            try:
                found = await outbox.backlog(self._pool, topic_prefix=self._prefix)
                self.backlog = found.rows
                metrics.OUTBOX_BACKLOG.set(found.rows)
                metrics.OUTBOX_OLDEST_SECONDS.set(found.oldest_seconds)
            except DATABASE_TROUBLE as exc:
                log.warning("outbox backlog not measured", error=type(exc).__name__)
            await asyncio.sleep(every)

    def heartbeat_detail(self) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "published": self.published,
            "failures": self.failures,
            "kafka": "connected" if self._producer is not None else "disconnected",
            "last_error": self.last_error,
        }

    async def close(self) -> None:
        await self._drop_producer()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=2)


async def run_relay(settings: IntakeSettings) -> None:
    """The relay process: migrations, then publish, follow the approval events,
    heartbeat and measure until cancelled."""
    # No session state is left on these connections (locks and settings are the
    # transaction's; LISTEN has a connection of its own): no reset query per checkout.
    pool = await create_pool(settings.database_url, max_size=4, reset_sessions=False)
    try:
        await prepare_database(pool, component="intake", package="onceonly.intake")
        relay = OutboxRelay.from_settings(pool, settings)
        follower = ApprovalFollower.from_settings(pool, settings)

        def detail() -> dict[str, Any]:
            return {**relay.heartbeat_detail(), "approvals": follower.heartbeat_detail()}

        helpers = [
            asyncio.create_task(
                run_heartbeat(
                    pool, RELAY_COMPONENT, every=settings.heartbeat_seconds, detail=detail
                )
            ),
            asyncio.create_task(relay.measure_backlog(settings.heartbeat_seconds)),
            asyncio.create_task(follower.run()),
        ]
        log.info("relay started", topic_prefix=settings.topic_prefix)
        try:
            await relay.run()
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await pool.close()
