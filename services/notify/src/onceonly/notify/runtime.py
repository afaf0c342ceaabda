"""The composition root of the notify process: pool, producer, provider, notifier and
the approval-events consumer running as a background task."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from onceonly.catalogue import default_catalogue
from onceonly.notify.notifier import Notifier
from onceonly.notify.providers import LocalProvider, Provider
from onceonly.notify.settings import NotifySettings
from onceonly.notify.store import DeliveryLedger
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import (
    EventConsumer,
    build_producer,
    ensure_topics,
    publish,
    wait_for_kafka,
)
from onceonly.platform.pii import PiiSealer
from onceonly.platform.topics import Stream, dead_letter_topic, topic_name

log = structlog.get_logger(__name__)

CONSUMER_NAME = "notify"


class NotifyRuntime:
    """Starts and stops everything the notify process runs besides HTTP."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        pool: asyncpg.Pool | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.settings = settings
        self._given_pool = pool
        self._given_provider = provider
        self.pool: asyncpg.Pool | None = None
        self.ledger: DeliveryLedger | None = None
        self.consumer: EventConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def source_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.APPROVAL_EVENTS)

    @property
    def outcomes_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.NOTIFICATION_OUTCOMES)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.settings.topic_prefix, CONSUMER_NAME)

    async def start(self) -> None:
        settings = self.settings
        self.pool = self._given_pool or await create_pool(
            settings.database_url, max_size=settings.database_pool_max
        )
        await prepare_database(self.pool, component="notify", package="onceonly.notify")
        self.ledger = DeliveryLedger(self.pool)
        await wait_for_kafka(settings.kafka_bootstrap)
        await ensure_topics(
            settings.kafka_bootstrap,
            [self.source_topic, self.outcomes_topic, self.dead_letter_topic],
        )
        self._producer = build_producer(settings.kafka_bootstrap, client_id="onceonly-notify")
        await self._producer.start()
        sealer = PiiSealer(settings.pii_keys.get_secret_value())
        producer = self._producer

        async def publish_outcome(envelope: Envelope) -> None:
            await publish(producer, self.outcomes_topic, envelope)

        notifier = Notifier(
            ledger=self.ledger,
            provider=self._given_provider or LocalProvider(self.pool, sealer),
            publish=publish_outcome,
            sealer=sealer,
            catalogue=default_catalogue(),
            signing_secret=settings.signing_secret.get_secret_value(),
        )
        self.consumer = EventConsumer(
            bootstrap=settings.kafka_bootstrap,
            topics=[self.source_topic],
            group_id=settings.notify_consumer_group,
            consumer_name=CONSUMER_NAME,
            dead_letter_topic=self.dead_letter_topic,
            handler=notifier.handle,
            producer=producer,
        )
        await self.consumer.start()
        self._task = asyncio.create_task(self.consumer.run(), name="notify-consumer")
        self._task.add_done_callback(_report_exit)
        log.info("notify consumer started", topic=self.source_topic)

    def problems(self) -> dict[str, str]:
        """Why the consumer is not running, if it is not."""
        task = self._task
        if task is None:
            return {"consumer": "stopped" if self._stopped else "not started"}
        if task.done():
            if task.cancelled():
                return {"consumer": "stopped"}
            error = task.exception()
            return {"consumer": f"exited: {type(error).__name__}: {error}" if error else "exited"}
        return {}

    async def stop(self) -> None:
        """Stop what was started, in reverse order; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._stopped = True
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        if self.pool is not None and self._given_pool is None:
            await self.pool.close()
            self.pool = None
        log.info("notify consumer stopped")


def _report_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("notify consumer died", error=repr(task.exception()))
