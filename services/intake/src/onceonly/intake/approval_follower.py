"""The approval follower: consumes the workflow's approval events and keeps intake's own
approval status of each application (intake.approval_status) current, with the approval
library's fold.

Intake reads no other service's tables: the events are the contract. Delivery is at
least once; the store applies each event id once. The follower runs in the relay
process (`onceonly-intake relay`) and reconnects by itself while Kafka is away.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from onceonly.approval import fold
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.lookup_store import LookupStore
from onceonly.intake.lookups import lookups_of
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import EventConsumer, build_producer, ensure_topics
from onceonly.platform.topics import Stream, dead_letter_topic, topic_name

log = structlog.get_logger(__name__)

CONSUMER_NAME = "intake-approvals"


class ApprovalFollower:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        bootstrap: str,
        topic_prefix: str,
        group_id: str,
        max_backoff: float = 30.0,
    ) -> None:
        self._store = ApprovalStore(pool)
        self._lookups = LookupStore(pool)
        self._bootstrap = bootstrap
        self.topic = topic_name(topic_prefix, Stream.APPROVAL_EVENTS)
        self.dead_letter_topic = dead_letter_topic(topic_prefix, CONSUMER_NAME)
        self._group = group_id
        self._max_backoff = max_backoff
        self._consumer: EventConsumer | None = None
        self.applied = 0
        self.skipped = 0
        self.last_error = ""

    @classmethod
    def from_settings(cls, pool: asyncpg.Pool, settings: IntakeSettings) -> ApprovalFollower:
        return cls(
            pool,
            bootstrap=settings.kafka_bootstrap,
            topic_prefix=settings.topic_prefix,
            group_id=settings.approvals_consumer_group,
            max_backoff=settings.relay_max_backoff_seconds,
        )

    async def handle(self, envelope: Envelope, _: ConsumerRecord | None = None) -> None:
        """Apply one event (idempotent by event id); database errors propagate, and the
        consumer retries the message."""
        message = envelope.message()
        applied = await self._store.apply(
            envelope.subject,
            envelope.id,
            lambda state: fold(state, message, at=envelope.time),
        )
        # What was looked up for the applicant (授权与数据来源): kept once per check and
        # time, so a redelivered event adds nothing.
        found = lookups_of(message)
        if found is not None:
            await self._lookups.record(envelope.subject, envelope.id, found)
        if applied:
            self.applied += 1
        else:
            self.skipped += 1

    async def run(self) -> None:
        """Follow until cancelled; a lost broker is retried with backoff."""
        backoff = 0.0
        while True:
            producer: AIOKafkaProducer | None = None
            try:
                await ensure_topics(self._bootstrap, [self.topic, self.dead_letter_topic])
                producer = build_producer(self._bootstrap, client_id="onceonly-intake-approvals")
                await producer.start()
                self._consumer = EventConsumer(
                    bootstrap=self._bootstrap,
                    topics=[self.topic],
                    group_id=self._group,
                    consumer_name=CONSUMER_NAME,
                    dead_letter_topic=self.dead_letter_topic,
                    handler=self.handle,
                    producer=producer,
                )
                await self._consumer.start()
                log.info("following approval events", topic=self.topic)
                self.last_error = ""
                backoff = 0.0
                await self._consumer.run()
            except (KafkaError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                backoff = min(max(backoff * 2, 0.5), self._max_backoff)
                log.warning("approval follower lost kafka; retrying", error=self.last_error)
            finally:
                await self._close(producer)
            await asyncio.sleep(backoff)

    async def _close(self, producer: AIOKafkaProducer | None) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    def heartbeat_detail(self) -> dict[str, Any]:
        return {
            "following": self._consumer is not None and not self.last_error,
            "applied": self.applied,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }
