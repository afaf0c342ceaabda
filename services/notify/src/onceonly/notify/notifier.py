"""The consumer's handler: an approval event becomes, at most once in effect, a message
to the applicant, and every outcome becomes a NotificationSent event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord
from google.protobuf.message import Message
from prometheus_client import Counter

from onceonly.catalogue import Catalogue
from onceonly.events.v1 import application_pb2, notification_pb2
from onceonly.notify.errors import PermanentProviderError, TemplateError, TemporaryProviderError
from onceonly.notify.ledger import (
    Action,
    DeliveryStatus,
    LedgerKey,
    channels_for,
    next_action,
    recipient_hash,
)
from onceonly.notify.providers import OutboundMessage, Provider
from onceonly.notify.store import Delivery, DeliveryLedger
from onceonly.notify.templates import Rendered, TemplateSet, render
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import PermanentMessageError
from onceonly.platform.pii import PiiError, PiiSealer, mask_mobile
from onceonly.platform.telemetry import current_trace_headers

log = structlog.get_logger(__name__)

SOURCE = "/onceonly/notify"

NOTIFICATIONS = Counter(
    "onceonly_notify_notifications_total",
    "Notification outcomes by channel, provider and status (sent, failed, possibly_sent)",
    ["channel", "provider", "status"],
)
SMS_SEGMENTS = Counter(
    "onceonly_notify_sms_segments_total", "SMS segments billed by providers", ["provider"]
)
REDELIVERIES = Counter(
    "onceonly_notify_redeliveries_total",
    "Deliveries found already settled in the ledger (nothing sent again)",
    ["channel"],
)

_STATUS = {
    DeliveryStatus.SENT: notification_pb2.DELIVERY_STATUS_SENT,
    DeliveryStatus.FAILED: notification_pb2.DELIVERY_STATUS_FAILED,
    DeliveryStatus.POSSIBLY_SENT: notification_pb2.DELIVERY_STATUS_POSSIBLY_SENT,
}

Publish = Callable[[Envelope], Awaitable[None]]


class Notifier:
    """Handles one event at a time; idempotent by (event id, channel, recipient)."""

    def __init__(
        self,
        *,
        ledger: DeliveryLedger,
        provider: Provider,
        publish: Publish,
        sealer: PiiSealer,
        catalogue: Catalogue,
        signing_secret: str,
        templates: TemplateSet | None = None,
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._publish = publish
        self._sealer = sealer
        self._catalogue = catalogue
        self._secret = signing_secret
        self._templates = templates

    async def handle(self, envelope: Envelope, record: ConsumerRecord | None = None) -> None:
        message = envelope.message()
        contact = _contact(message)
        if contact is None:
            return
        try:
            rendered = render(message, contact.language, self._catalogue, templates=self._templates)
        except TemplateError as exc:
            raise PermanentMessageError(f"cannot render {envelope.type}: {exc}") from exc
        if rendered is None:
            return
        channels = channels_for(list(contact.channels))
        if not channels:
            log.info(
                "no channel notify serves",
                application_code=envelope.subject,
                event_id=envelope.id,
                channels=list(contact.channels),
            )
            return
        for channel in channels:
            await self._deliver_sms(envelope, contact, rendered, channel)

    async def _deliver_sms(
        self,
        envelope: Envelope,
        contact: application_pb2.Contact,
        rendered: Rendered,
        channel: str,
    ) -> None:
        if not contact.mobile.sealed:
            log.warning(
                "no mobile number to notify",
                application_code=envelope.subject,
                event_id=envelope.id,
                template=rendered.template,
            )
            return
        try:
            mobile = self._sealer.open(contact.mobile.sealed, context=f"{envelope.subject}:mobile")
        except (PiiError, ValueError) as exc:
            # A tampered value, a key we no longer hold, or a mismatched application code.
            raise PermanentMessageError(f"contact mobile does not open: {exc}") from exc
        key = LedgerKey(envelope.id, channel, recipient_hash(self._secret, mobile))
        delivery = await self._ledger.open(
            key,
            application_code=envelope.subject,
            cause_event_type=envelope.type,
            recipient_masked=mask_mobile(mobile),
            template=rendered.template,
            language=rendered.language,
        )
        action = next_action(delivery.state, provider_idempotent=self._provider.idempotent)
        if action is Action.NOTHING:
            REDELIVERIES.labels(channel).inc()
            log.info(
                "already delivered",
                application_code=envelope.subject,
                event_id=envelope.id,
                channel=channel,
                status=delivery.status.value,
            )
            return
        if action is Action.SEND:
            delivery = await self._send(delivery, recipient=mobile, body=rendered.text)
        elif action is Action.MARK_POSSIBLY_SENT:
            delivery = await self._ledger.mark_possibly_sent(key, provider=self._provider.name)
            NOTIFICATIONS.labels(channel, self._provider.name, "possibly_sent").inc()
            log.warning(
                "send in doubt, not repeated",
                application_code=envelope.subject,
                event_id=envelope.id,
                channel=channel,
                to=delivery.recipient_masked,
            )
        await self._publish_outcome(envelope, delivery)

    async def _send(self, delivery: Delivery, *, recipient: str, body: str) -> Delivery:
        key = delivery.key
        provider = self._provider
        await self._ledger.begin_send(key)
        message = OutboundMessage(
            idempotency_key=key.idempotency_key,
            application_code=delivery.application_code,
            channel=key.channel,
            recipient=recipient,
            recipient_masked=delivery.recipient_masked,
            body=body,
        )
        try:
            result = await provider.send(message)
        except PermanentProviderError as exc:
            NOTIFICATIONS.labels(key.channel, provider.name, "failed").inc()
            log.warning(
                "delivery failed permanently",
                application_code=delivery.application_code,
                channel=key.channel,
                to=delivery.recipient_masked,
                error=str(exc),
            )
            return await self._ledger.mark_failed(key, provider=provider.name, error=str(exc))
        except TemporaryProviderError as exc:
            if exc.not_sent:
                await self._ledger.release(key, error=str(exc))
            raise  # the consumer retries with backoff
        delivery = await self._ledger.mark_sent(
            key,
            provider=result.provider,
            provider_message_id=result.provider_message_id,
            segments=result.segments,
        )
        if not result.duplicate:
            NOTIFICATIONS.labels(key.channel, provider.name, "sent").inc()
            SMS_SEGMENTS.labels(provider.name).inc(result.segments)
        return delivery

    async def _publish_outcome(self, cause: Envelope, delivery: Delivery) -> None:
        sent_at = delivery.completed_at or datetime.now(UTC)
        event = notification_pb2.NotificationSent(
            application_code=delivery.application_code,
            cause_event_id=cause.id,
            cause_event_type=cause.type,
            channel=delivery.key.channel,
            recipient_masked=delivery.recipient_masked,
            template=delivery.template,
            status=_STATUS[delivery.status],
            provider=delivery.provider or "",
            provider_message_id=delivery.provider_message_id or "",
            segments=delivery.segments or 0,
        )
        event.sent_at.FromDatetime(sent_at)
        # Inside the consumer span when tracing is on; else straight from the cause.
        trace_headers = current_trace_headers()
        if not trace_headers.get("traceparent"):
            trace_headers = {"traceparent": cause.traceparent, "tracestate": cause.tracestate}
        await self._publish(
            new_envelope(
                event,
                source=SOURCE,
                application_code=delivery.application_code,
                event_id=delivery.key.outcome_event_id,
                time=sent_at,
                trace_headers=trace_headers,
            )
        )
        await self._ledger.mark_published(delivery.key)
        log.info(
            "notification outcome",
            application_code=delivery.application_code,
            event_id=cause.id,
            channel=delivery.key.channel,
            to=delivery.recipient_masked,
            template=delivery.template,
            status=delivery.status.value,
            segments=delivery.segments,
        )


def _contact(message: Message) -> application_pb2.Contact | None:
    """The applicant's contact carried by citizen-facing events."""
    descriptor = message.DESCRIPTOR
    if "contact" not in descriptor.fields_by_name or not message.HasField("contact"):
        return None
    contact = message.contact  # type: ignore[attr-defined]
    assert isinstance(contact, application_pb2.Contact)
    return contact
