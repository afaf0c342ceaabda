"""The composition root of the notify process: pool, producer, providers, notifier, the
consumer of approval events, submissions, applicant updates and supervision alerts, the
webhook retry loop and the deferred-message scheduler as background tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg
import httpx
import structlog
from aiokafka import ConsumerRecord

from onceonly.catalogue import default_catalogue
from onceonly.notify.app_push import HttpPushProvider
from onceonly.notify.http_sms import HttpSmsProvider
from onceonly.notify.notifier import Notifier, both
from onceonly.notify.policy import DeliveryPolicy, QuietHours, RateLimit
from onceonly.notify.providers import LocalProvider, Provider
from onceonly.notify.scheduler import DeferredSender
from onceonly.notify.settings import NotifySettings
from onceonly.notify.staff import load_directory
from onceonly.notify.store import DeliveryLedger
from onceonly.notify.webhook_delivery import WebhookDispatcher, WebhookEvents
from onceonly.notify.webhook_store import WebhookStore
from onceonly.notify.webhook_transport import Resolve, system_resolve, webhook_client
from onceonly.notify.webhooks import RetryPolicy
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.deferral_store import postgres_deferrals
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import (
    EventConsumer,
    build_producer,
    ensure_topics,
    publish,
    wait_for_kafka,
)
from onceonly.platform.kafka_ports import Producer
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
        clock: Callable[[], datetime] | None = None,
        resolve: Resolve = system_resolve,
    ) -> None:
        self.settings = settings
        self._given_pool = pool
        self._given_provider = provider
        self._clock = clock  # tests move time (quiet hours, the rate limit's hour)
        self._resolve = resolve  # tests answer for webhook hosts (DNS rebinding)
        self._scheduler_task: asyncio.Task[None] | None = None
        self.pool: asyncpg.Pool | None = None
        self.ledger: DeliveryLedger | None = None
        self.webhooks: WebhookStore | None = None
        self.retry_policy = RetryPolicy(
            base_seconds=settings.notify_webhook_retry_base_seconds,
            max_seconds=settings.notify_webhook_retry_max_seconds,
            give_up_after=timedelta(hours=settings.notify_webhook_give_up_hours),
        )
        self._http: httpx.AsyncClient | None = None
        self._webhook_http: httpx.AsyncClient | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self.consumer: EventConsumer | None = None
        self._producer: Producer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def source_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.APPROVAL_EVENTS)

    @property
    def submissions_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.SUBMISSIONS)

    @property
    def updates_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.APPLICANT_UPDATES)

    @property
    def supervision_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.SUPERVISION_ALERTS)

    @property
    def consumed_topics(self) -> list[str]:
        return [
            self.source_topic,
            self.submissions_topic,
            self.updates_topic,
            self.supervision_topic,
            topic_name(self.settings.topic_prefix, Stream.WORK_ORDERS),
        ]

    @property
    def outcomes_topic(self) -> str:
        return topic_name(self.settings.topic_prefix, Stream.NOTIFICATION_OUTCOMES)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.settings.topic_prefix, CONSUMER_NAME)

    async def start(self) -> None:
        settings = self.settings
        # No reset query on each checkout (a round trip per statement): notify leaves no
        # session state behind (no LISTEN, SET or cursor; its advisory locks are the
        # transaction's, and the migrations' session lock is released where taken).
        self.pool = self._given_pool or await create_pool(
            settings.database_url, max_size=settings.database_pool_max, reset_sessions=False
        )
        await prepare_database(self.pool, component="notify", package="onceonly.notify")
        self.ledger = DeliveryLedger(self.pool)
        await wait_for_kafka(settings.kafka_bootstrap)
        await ensure_topics(
            settings.kafka_bootstrap,
            [*self.consumed_topics, self.outcomes_topic, self.dead_letter_topic],
        )
        self._producer = build_producer(settings.kafka_bootstrap, client_id="onceonly-notify")
        await self._producer.start()
        sealer = PiiSealer(settings.pii_keys.get_secret_value())
        producer = self._producer

        async def publish_outcome(envelope: Envelope) -> None:
            await publish(producer, self.outcomes_topic, envelope)

        # One client for the SMS and push gateways (each request sets its own timeout);
        # webhooks have their own, which checks every destination when it connects.
        self._http = httpx.AsyncClient(
            timeout=settings.notify_webhook_timeout_seconds, follow_redirects=False
        )
        self._webhook_http = webhook_client(
            settings.webhook_destinations,
            timeout=settings.notify_webhook_timeout_seconds,
            resolve=self._resolve,
        )
        policy = DeliveryPolicy(
            quiet_hours=QuietHours.parse(settings.notify_quiet_hours),
            sms_rate=RateLimit(settings.notify_sms_per_hour),
        )
        clock_kwargs = {"clock": self._clock} if self._clock is not None else {}
        notifier = Notifier(
            ledger=self.ledger,
            providers=self._providers(sealer),
            publish=publish_outcome,
            sealer=sealer,
            catalogue=default_catalogue(),
            recipient_hash_key=settings.recipient_hash_key(),
            policy=policy,
            staff=load_directory(settings.notify_staff_directory),
            lease=timedelta(seconds=settings.notify_scheduler_lease_seconds),
            progress_base_url=settings.notify_progress_base_url,
            **clock_kwargs,
        )
        self.webhooks = WebhookStore(self.pool)
        webhook_events = WebhookEvents(self.webhooks, self.retry_policy)

        async def handle(envelope: Envelope, record: ConsumerRecord) -> None:
            # Webhooks beside the messages: only database writes, idempotent by event id,
            # so a retry of the handler after a temporary SMS failure queues nothing twice;
            # both run to their end before an error of either is raised (webhooks' first).
            await both(webhook_events.handle(envelope), notifier.handle(envelope, record))

        self.consumer = EventConsumer(
            bootstrap=settings.kafka_bootstrap,
            topics=self.consumed_topics,
            group_id=settings.notify_consumer_group,
            consumer_name=CONSUMER_NAME,
            dead_letter_topic=self.dead_letter_topic,
            handler=handle,
            producer=producer,
            concurrency=settings.notify_consumer_concurrency,
            # A supplement's message waits for its submission's contact (another topic).
            deferrals=postgres_deferrals(self.pool, settings.notify_consumer_group, settings),
        )
        await self.consumer.start()
        self._task = asyncio.create_task(self.consumer.run(), name="notify-consumer")
        self._task.add_done_callback(_report_exit)
        dispatcher = WebhookDispatcher(
            self.webhooks,
            sealer,
            self.retry_policy,
            client=self._webhook_http,
            destinations=settings.webhook_destinations,
            publish=publish_outcome,
            poll_seconds=settings.notify_webhook_poll_seconds,
            lease=timedelta(seconds=settings.notify_webhook_timeout_seconds * 3),
            attempt_seconds=settings.notify_webhook_timeout_seconds * 2,
        )
        self._webhook_task = asyncio.create_task(dispatcher.run(), name="notify-webhooks")
        self._webhook_task.add_done_callback(_report_exit)
        sender = DeferredSender(notifier, poll_seconds=settings.notify_scheduler_poll_seconds)
        self._scheduler_task = asyncio.create_task(sender.run(), name="notify-scheduler")
        self._scheduler_task.add_done_callback(_report_exit)
        log.info("notify consumer started", topics=self.consumed_topics)

    def _providers(self, sealer: PiiSealer) -> dict[str, Provider]:
        """A provider per channel: the one given (tests), else as configured."""
        if self._given_provider is not None:
            return {"sms": self._given_provider, "app": self._given_provider}
        settings = self.settings
        assert self.pool is not None and self._http is not None
        local = LocalProvider(self.pool, sealer)
        sms: Provider = local
        app: Provider = local
        if settings.notify_provider == "http":
            sms = HttpSmsProvider(
                self._http,
                settings.notify_sms_gateway_url,
                token=settings.notify_sms_gateway_token.get_secret_value(),
                timeout=settings.notify_sms_gateway_timeout_seconds,
            )
        if settings.notify_push_provider == "http":
            app = HttpPushProvider(
                self._http,
                settings.notify_push_url,
                token=settings.notify_push_token.get_secret_value(),
                idempotent=settings.notify_push_idempotent,
                timeout=settings.notify_push_timeout_seconds,
            )
        return {"sms": sms, "app": app}

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
        webhooks = self._webhook_task
        if webhooks is not None and webhooks.done():
            return {"webhooks": "exited"}
        scheduler = self._scheduler_task
        if scheduler is not None and scheduler.done():
            return {"scheduler": "exited"}
        return {}

    async def stop(self) -> None:
        """Stop what was started, in reverse order; safe to call twice."""
        scheduler_task, self._scheduler_task = self._scheduler_task, None
        if scheduler_task is not None:
            scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await scheduler_task
        webhook_task, self._webhook_task = self._webhook_task, None
        if webhook_task is not None:
            webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await webhook_task
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._stopped = True
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()
        for client in (self._http, self._webhook_http):
            if client is not None:
                await client.aclose()
        self._http = self._webhook_http = None
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
