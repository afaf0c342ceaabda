"""Integrator webhooks, the moving parts: the event handler that records applications and
queues webhook deliveries (ledger first), and the retry loop that sends due ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from onceonly.events.v1 import application_pb2, notification_pb2
from onceonly.notify.errors import WebhookDestinationRefused
from onceonly.notify.ledger import LedgerKey
from onceonly.notify.webhook_store import Registration, WebhookStore
from onceonly.notify.webhook_urls import DestinationPolicy, WebhookUrl, parse_webhook_url
from onceonly.notify.webhooks import (
    CHANNEL,
    EVENT_ID_HEADER,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    AttemptResult,
    RetryPolicy,
    classify,
    new_secret,
    signature_header,
    webhook_body,
    webhook_status,
)
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.pii import PiiError, PiiSealer

log = structlog.get_logger(__name__)

SOURCE = "/onceonly/notify"
_OUTCOME_STATUS = {
    "sent": notification_pb2.DELIVERY_STATUS_SENT,
    "failed": notification_pb2.DELIVERY_STATUS_FAILED,
}

Publish = Callable[[Envelope], Awaitable[None]]

# What an integrator reads in its delivery log when no HTTP status came back: the same
# few words whatever happened underneath, so that the log tells nothing of our network
# (which addresses exist, answer, or are refused why). The details go to our own log.
REFUSED = "refused: destination not allowed"
CONNECTION_FAILED = "connection failed"
DELIVERY_FAILED = "delivery failed"
NO_WEBHOOK = "integrator has no webhook"
SIGNING_FAILED = "signing failed"

WEBHOOK_ATTEMPTS = Counter(
    "onceonly_notify_webhook_attempts_total",
    "Webhook POST attempts by result (delivered, retry, permanent)",
    ["result"],
)


def secret_context(integrator_id: str) -> str:
    """Sealing context of an integrator's webhook secret (AES-GCM associated data)."""
    return f"webhook:{integrator_id}"


async def register_webhook(
    store: WebhookStore, sealer: PiiSealer, integrator_id: str, url: WebhookUrl
) -> tuple[str, str]:
    """Set (or replace) an integrator's webhook, at a URL already accepted by
    `parse_webhook_url`, with a fresh secret: (key id, secret)."""
    key_id, secret = new_secret()
    sealed = sealer.seal(secret, context=secret_context(integrator_id))
    await store.set_webhook(integrator_id, url=url.url, key_id=key_id, secret_sealed=sealed)
    return key_id, secret


class WebhookEvents:
    """Consumer handler: submissions say who the integrator is; status-changing approval
    events become one pending delivery each (or wait in the backlog)."""

    def __init__(self, store: WebhookStore, policy: RetryPolicy) -> None:
        self._store = store
        self._policy = policy

    async def handle(self, envelope: Envelope) -> None:
        message = envelope.message()
        if isinstance(message, application_pb2.ApplicationSubmitted):
            if message.integrator_id:
                await self._store.record_application(envelope.subject, message.integrator_id)
            return
        status = webhook_status(message)
        if status is None:
            return
        payload = webhook_body(
            application_code=envelope.subject,
            event_type=envelope.type,
            event_id=envelope.id,
            status=status,
            occurred_at=envelope.time,
        )
        integrator_id = await self._store.integrator_of(envelope.subject)
        if integrator_id is None:
            # The submission may simply not have been consumed yet (another topic).
            await self._store.defer(
                event_id=envelope.id,
                application_code=envelope.subject,
                event_type=envelope.type,
                payload=payload,
            )
            log.info("webhook deferred", application_code=envelope.subject, event_id=envelope.id)
            return
        await self._store.enqueue(
            event_id=envelope.id,
            integrator_id=integrator_id,
            application_code=envelope.subject,
            event_type=envelope.type,
            payload=payload,
            give_up_after=self._policy.give_up_after,
        )


class WebhookDispatcher:
    """The retry loop: every `poll_seconds`, resolve the backlog and send due deliveries.

    `client` must refuse destinations itself at connection time (`webhook_client`); the
    dispatcher checks each stored URL against `destinations` before it sends, since a
    URL stored before these rules (or by hand) may be anything. An attempt that takes
    longer than `attempt_seconds` in all counts as a failed connection (keep it below
    `lease`, or the delivery could be taken again while it is still being sent)."""

    def __init__(
        self,
        store: WebhookStore,
        sealer: PiiSealer,
        policy: RetryPolicy,
        *,
        client: httpx.AsyncClient,
        destinations: DestinationPolicy,
        publish: Publish | None = None,
        poll_seconds: float = 1.0,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        attempt_seconds: float = 30.0,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._policy = policy
        self._client = client
        self._destinations = destinations
        self._attempt_seconds = attempt_seconds
        self._publish = publish
        self._poll = poll_seconds
        self._batch = batch
        self._lease = lease

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the loop must outlive a bad tick (e.g. a db restart)
                log.error("webhook loop tick failed", error=repr(exc))
            await asyncio.sleep(self._poll)

    async def tick(self) -> int:
        """One pass; returns how many deliveries were attempted."""
        _, dropped = await self._store.resolve_backlog(give_up_after=self._policy.give_up_after)
        if dropped:
            log.warning("webhook backlog events dropped: application never known", count=dropped)
        due = await self._store.claim_due(limit=self._batch, lease=self._lease)
        settled = await asyncio.gather(
            *(self._attempt(delivery) for delivery in due), return_exceptions=True
        )
        for delivery, outcome in zip(due, settled, strict=True):
            if isinstance(outcome, Exception):
                # Not settled (the ledger is away?): due again once its lease is over.
                log.error(
                    "webhook attempt not recorded",
                    delivery_id=str(delivery["id"]),
                    error_type=type(outcome).__name__,
                )
        await self._publish_outcomes()
        return len(due)

    async def _publish_outcomes(self) -> None:
        """A NotificationSent per settled delivery, for the application's timeline. Done
        from the ledger (not right after the attempt) so a publish lost to a crash or a
        Kafka outage is made up on a later tick; the event id is deterministic, so a
        repeat is a duplicate that consumers drop."""
        if self._publish is None:
            return
        for row in await self._store.unpublished(limit=self._batch):
            key = LedgerKey(row["event_id"], CHANNEL, row["integrator_id"])
            event = notification_pb2.NotificationSent(
                application_code=row["application_code"],
                cause_event_id=row["event_id"],
                cause_event_type=row["cause_event_type"],
                channel=CHANNEL,
                recipient_masked=row["integrator_id"],
                template="webhook",
                status=_OUTCOME_STATUS[row["status"]],
                provider="webhook",
                provider_message_id=str(row["http_status"] or ""),
            )
            event.sent_at.FromDatetime(row["completed_at"])
            await self._publish(
                new_envelope(
                    event,
                    source=SOURCE,
                    application_code=row["application_code"],
                    event_id=key.outcome_event_id,
                    time=row["completed_at"],
                )
            )
            await self._store.mark_published(row["event_id"], row["integrator_id"])

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        """One attempt, always settled: delivered, rescheduled or failed."""
        bound = log.bind(
            application_code=delivery["application_code"],
            event_id=delivery["event_id"],
            integrator_id=delivery["integrator_id"],
            attempt=delivery["attempts"],
        )
        # Outside the try below: without the ledger nothing can be recorded anyway, and
        # the delivery is due again when its lease is over.
        registration = await self._store.registration(delivery["integrator_id"])
        try:
            result, http_status, error = await self._send(delivery, registration, bound)
        except Exception as exc:  # whatever it was, the attempt failed and is recorded so
            # The type only: a traceback's locals would hold the signing secret.
            bound.error("webhook attempt raised", error_type=type(exc).__name__)
            result, http_status, error = AttemptResult.PERMANENT, None, DELIVERY_FAILED
        WEBHOOK_ATTEMPTS.labels(result.value).inc()
        delivery_id = delivery["id"]
        if result is AttemptResult.DELIVERED:
            assert http_status is not None
            await self._store.mark_delivered(delivery_id, http_status=http_status)
            bound.info("webhook delivered", http_status=http_status)
            return
        if result is AttemptResult.RETRY:
            at = self._policy.next_attempt(
                attempts=delivery["attempts"],
                now=datetime.now(UTC),
                give_up_at=delivery["give_up_at"],
            )
            if at is not None:
                await self._store.reschedule(
                    delivery_id, at=at, error=error, http_status=http_status
                )
                bound.info("webhook retry scheduled", error=error, next_attempt_at=at.isoformat())
                return
            error = f"gave up after the retry window; last: {error}"
        await self._store.mark_failed(delivery_id, error=error, http_status=http_status)
        bound.warning("webhook failed", error=error, http_status=http_status)

    async def _send(
        self, delivery: dict[str, Any], registration: Registration | None, bound: Any
    ) -> tuple[AttemptResult, int | None, str]:
        """POST the delivery: (what it means, the HTTP status if one came back, the error
        text the integrator reads)."""
        integrator_id = delivery["integrator_id"]
        if registration is None:
            return AttemptResult.PERMANENT, None, NO_WEBHOOK
        try:
            destination = parse_webhook_url(registration.url, self._destinations)
        except WebhookDestinationRefused as exc:
            bound.warning("webhook url refused", code=exc.code, reason=exc.reason)
            return AttemptResult.PERMANENT, None, REFUSED
        try:
            secret = self._sealer.open(
                registration.secret_sealed, context=secret_context(integrator_id)
            )
        except (PiiError, ValueError) as exc:
            bound.error("webhook secret does not open", error=str(exc))
            return AttemptResult.PERMANENT, None, SIGNING_FAILED
        body: str = delivery["payload"]
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(secret, int(time.time()), body),
            KEY_ID_HEADER: registration.key_id,
            EVENT_ID_HEADER: delivery["event_id"],
        }
        try:
            async with asyncio.timeout(self._attempt_seconds):
                # Streamed, and the body never read: only the status matters, and an
                # endless answer must not fill our memory.
                async with self._client.stream(
                    "POST", destination.url, content=body.encode(), headers=headers
                ) as response:
                    http_status = response.status_code
        except WebhookDestinationRefused as exc:
            bound.warning("webhook destination refused", code=exc.code, reason=exc.reason)
            return AttemptResult.PERMANENT, None, REFUSED
        except (httpx.TransportError, TimeoutError) as exc:
            # Our log may say what happened (the integrator's reads "connection failed").
            bound.info("webhook connection failed", error_type=type(exc).__name__, error=str(exc))
            return classify(None), None, CONNECTION_FAILED
        return classify(http_status), http_status, f"HTTP {http_status}"
