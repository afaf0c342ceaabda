"""The consumer's handler: an event becomes, at most once in effect, messages to the
people it concerns (the applicant by SMS and/or app push; department staff and the
supervision office for supervision alerts), and every outcome becomes a NotificationSent
event. Messages that quiet hours or a rate limit hold back wait in the ledger, and the
scheduler (scheduler.py) sends them through `send_due`, by the same ledger rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog
from aiokafka import ConsumerRecord
from google.protobuf.message import Message
from prometheus_client import Counter

from onceonly.catalogue import Catalogue
from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.events.v1 import (
    application_pb2,
    approval_pb2,
    notification_pb2,
    supervision_pb2,
    workorder_pb2,
)
from onceonly.notify.errors import PermanentProviderError, TemplateError, TemporaryProviderError
from onceonly.notify.ledger import (
    Action,
    DeliveryStatus,
    LedgerKey,
    channels_for,
    next_action,
    recipient_hash,
)
from onceonly.notify.policy import DeliveryPolicy
from onceonly.notify.providers import OutboundMessage, Provider
from onceonly.notify.staff import StaffDirectory
from onceonly.notify.store import Delivery, DeliveryLedger
from onceonly.notify.templates import (
    RATING_INVITATION,
    SPECIAL_PROCEDURE,
    Rendered,
    TemplateSet,
    alert_kind,
    default_templates,
    render,
    render_alert,
    render_overrun,
    render_rating_invitation,
    render_work_order_answered,
)
from onceonly.platform.deferral import EventNotReady
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import PermanentMessageError
from onceonly.platform.pii import PiiError, PiiSealer, mask_mobile
from onceonly.platform.telemetry import current_trace_headers

log = structlog.get_logger(__name__)

SOURCE = "/onceonly/notify"
# The act of an agent's authorisation that lets the agent hear the applicant's notices.
RECEIVE_NOTIFICATIONS = "receive_notifications"
# A ledger event id with a suffix is one of several messages caused by one event.
PART_SEPARATOR = "#"
# How long a settled message may wait for its outcome event before the scheduler sends it.
UNPUBLISHED_GRACE = timedelta(seconds=30)

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
DEFERRALS = Counter(
    "onceonly_notify_deferrals_total",
    "Messages held back for later by quiet hours or a per-recipient rate limit",
    ["channel", "reason"],
)

_STATUS = {
    DeliveryStatus.SENT: notification_pb2.DELIVERY_STATUS_SENT,
    DeliveryStatus.FAILED: notification_pb2.DELIVERY_STATUS_FAILED,
    DeliveryStatus.POSSIBLY_SENT: notification_pb2.DELIVERY_STATUS_POSSIBLY_SENT,
}

Publish = Callable[[Envelope], Awaitable[None]]
T = TypeVar("T")
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Recipient:
    mobile: str  # the real number; never logged
    channels: tuple[str, ...]
    language: str


@dataclass(frozen=True, slots=True)
class Cause:
    """The event a message reports on, as the outcome event names it."""

    event_id: str
    event_type: str
    trace_headers: Mapping[str, str]


def recipient_context(key: LedgerKey) -> str:
    """Sealing context of an address kept for the scheduler: bound to its ledger row."""
    return f"notify:{key.idempotency_key}"


class Notifier:
    """Handles one event at a time; idempotent by (event id, channel, recipient)."""

    def __init__(
        self,
        *,
        ledger: DeliveryLedger,
        publish: Publish,
        sealer: PiiSealer,
        catalogue: Catalogue,
        recipient_hash_key: str,
        provider: Provider | None = None,
        providers: Mapping[str, Provider] | None = None,
        templates: TemplateSet | None = None,
        policy: DeliveryPolicy | None = None,
        staff: StaffDirectory | None = None,
        clock: Clock = _utcnow,
        retry_base: timedelta = timedelta(seconds=5),
        lease: timedelta = timedelta(seconds=60),
        progress_base_url: str = "",
    ) -> None:
        if providers is None:
            if provider is None:
                raise ValueError("a provider, or providers by channel")
            providers = {"sms": provider, "app": provider}
        self._ledger = ledger
        self._providers = dict(providers)
        self._publish = publish
        self._sealer = sealer
        self._catalogue = catalogue
        self._recipient_key = recipient_hash_key
        self._templates = templates or default_templates()
        self._policy = policy or DeliveryPolicy()
        self._staff = staff
        self._clock = clock
        self._retry_base = retry_base
        self._lease = lease
        self._progress_base_url = progress_base_url

    # -- events --------------------------------------------------------------------------

    async def handle(self, envelope: Envelope, record: ConsumerRecord | None = None) -> None:
        message = envelope.message()
        if isinstance(message, supervision_pb2.SupervisionAlert):
            await self._handle_alert(envelope, message)
            return
        if isinstance(message, supervision_pb2.SpecialProcedureOverrun):
            await self._tell_staff(
                envelope,
                message.department_code,
                SPECIAL_PROCEDURE,
                lambda language: render_overrun(
                    message, language, self._catalogue, templates=self._templates
                ),
            )
            return
        if isinstance(message, workorder_pb2.WorkOrderAnswered):
            await self._tell_caller(envelope, message)
            return
        if isinstance(message, application_pb2.ApplicationSubmitted):
            # Recorded even when empty: an update that overtook its submission (another
            # topic) waits for this row, not for a contact that will never come.
            await self._ledger.record_contact(
                envelope.subject, message.contact, message.competent_region
            )
            if message.HasField("agent") and (
                RECEIVE_NOTIFICATIONS in message.agent.authorisation.scope
            ):
                await self._ledger.record_agent_contact(envelope.subject, message.agent)
            return
        contact = _contact(message)
        if contact is None and isinstance(message, application_pb2.SupplementProvided):
            # Applicant updates carry no contact: the one the submission gave.
            contact = await self._ledger.contact_of(envelope.subject)
            if contact is None:
                raise EventNotReady(f"the submission of {envelope.subject} (its contact)")
        if contact is None:
            return
        try:
            rendered = render(
                message,
                contact.language,
                self._catalogue,
                templates=self._templates,
                occurred_at=envelope.time,
                progress_base_url=self._progress_base_url,
            )
        except TemplateError as exc:
            raise PermanentMessageError(f"cannot render {envelope.type}: {exc}") from exc
        if rendered is None:
            return
        messages: list[tuple[str, Rendered]] = [(envelope.id, rendered)]
        if isinstance(message, approval_pb2.ApplicationCompleted):
            invitation = render_rating_invitation(
                message, contact.language, self._catalogue, templates=self._templates
            )
            messages.append((f"{envelope.id}{PART_SEPARATOR}{RATING_INVITATION}", invitation))
        recipient = self._applicant(envelope, contact, rendered)

        async def tell_applicant() -> None:
            if recipient is not None:
                for ledger_event_id, text in messages:
                    await self._deliver_all(envelope, ledger_event_id, recipient, text)

        # The agent is looked up while the applicant's messages go out (a read only).
        agent = await both(self._agent(envelope, contact.language), tell_applicant())
        if agent is not None:
            # Ledger rows are per recipient: the agent's copy is delivered (and retried)
            # on its own, and a redelivered event sends neither twice.
            for ledger_event_id, text in messages:
                await self._deliver_all(envelope, ledger_event_id, agent, text)

    async def _agent(self, envelope: Envelope, language: str) -> Recipient | None:
        """The application's agent, when its authorisation says it hears the applicant's
        notices and is still valid today (China time); by SMS."""
        found = await self._ledger.agent_contact_of(envelope.subject)
        if (
            found is None
            or self._clock().astimezone(CHINA_STANDARD_TIME).date() > found.valid_until
        ):
            return None
        try:
            mobile = self._sealer.open(
                found.mobile_sealed, context=f"{envelope.subject}:agent:mobile"
            )
        except (PiiError, ValueError):
            # The applicant's notice went out; the agent's copy is not worth a dead letter.
            log.warning("agent mobile does not open", application_code=envelope.subject)
            return None
        return Recipient(mobile, ("sms",), language)

    async def _tell_caller(
        self, envelope: Envelope, message: workorder_pb2.WorkOrderAnswered
    ) -> None:
        """The 12345 caller, by SMS: their mobile is sealed to the order, not to the
        application the order may be attached to."""
        if not message.caller_mobile.sealed:
            log.warning("no caller mobile to notify", order_code=message.order_code)
            return
        try:
            mobile = self._sealer.open(
                message.caller_mobile.sealed, context=f"{message.order_code}:mobile"
            )
        except (PiiError, ValueError) as exc:
            raise PermanentMessageError(f"caller mobile does not open: {exc}") from exc
        language = message.language or self._templates.default_language
        try:
            rendered = render_work_order_answered(
                message, language, self._catalogue, templates=self._templates
            )
        except TemplateError as exc:
            raise PermanentMessageError(f"cannot render {envelope.type}: {exc}") from exc
        recipient = Recipient(mobile, ("sms",), rendered.language)
        await self._deliver_all(envelope, envelope.id, recipient, rendered)

    async def _handle_alert(
        self, envelope: Envelope, alert: supervision_pb2.SupervisionAlert
    ) -> None:
        try:
            kind = alert_kind(alert)
        except TemplateError as exc:
            raise PermanentMessageError(f"cannot render {envelope.type}: {exc}") from exc
        if kind is None:
            return

        def rendered(language: str) -> Rendered:
            text = render_alert(alert, language, self._catalogue, templates=self._templates)
            assert text is not None  # kind is not None
            return text

        await self._tell_staff(envelope, alert.department_code, kind, rendered)

    async def _tell_staff(
        self,
        envelope: Envelope,
        department_code: str,
        kind: str,
        render: Callable[[str], Rendered],
    ) -> None:
        """Department staff and the supervision office who hear of alerts of `kind`
        (never the applicant)."""
        if self._staff is None:
            return
        people = self._staff.recipients(department_code=department_code, kind=kind)
        if not people:
            log.warning(
                "nobody to tell of a supervision alert",
                application_code=envelope.subject,
                department=department_code,
                kind=kind,
            )
        for person in people:
            rendered = render(person.language)
            recipient = Recipient(person.mobile, person.channels, person.language)
            await self._deliver_all(envelope, envelope.id, recipient, rendered)

    def _applicant(
        self, envelope: Envelope, contact: application_pb2.Contact, rendered: Rendered
    ) -> Recipient | None:
        channels = tuple(channels_for(list(contact.channels)))
        if not channels:
            log.info(
                "no channel notify serves",
                application_code=envelope.subject,
                event_id=envelope.id,
                channels=list(contact.channels),
            )
            return None
        if not contact.mobile.sealed:
            log.warning(
                "no mobile number to notify",
                application_code=envelope.subject,
                event_id=envelope.id,
                template=rendered.template,
            )
            return None
        try:
            mobile = self._sealer.open(contact.mobile.sealed, context=f"{envelope.subject}:mobile")
        except (PiiError, ValueError) as exc:
            # A tampered value, a key we no longer hold, or a mismatched application code.
            raise PermanentMessageError(f"contact mobile does not open: {exc}") from exc
        return Recipient(mobile, channels, contact.language)

    async def _deliver_all(
        self, envelope: Envelope, ledger_event_id: str, recipient: Recipient, rendered: Rendered
    ) -> None:
        trace_headers = current_trace_headers()
        if not trace_headers.get("traceparent"):
            trace_headers = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        cause = Cause(envelope.id, envelope.type, trace_headers)
        for channel in recipient.channels:
            if channel not in self._providers:
                log.info("no provider for the channel", channel=channel, event_id=envelope.id)
                continue
            hashed = recipient_hash(self._recipient_key, recipient.mobile)
            key = LedgerKey(ledger_event_id, channel, hashed)
            urgent = rendered.template in self._templates.urgent
            now = self._clock()
            # When nothing can hold the message back, a new ledger row is written as being
            # sent (one statement instead of two); a row found already takes the usual way.
            at_once = self._policy.sends_at_once(now, channel=channel, urgent=urgent)
            delivery, started = await self._ledger.open_to_send(
                key,
                application_code=envelope.subject,
                cause_event_type=envelope.type,
                recipient_masked=mask_mobile(recipient.mobile),
                template=rendered.template,
                language=rendered.language,
                urgent=urgent,
                sending_since=now if at_once else None,
            )
            if not started:
                await self._settle(delivery, cause, recipient=recipient.mobile, body=rendered.text)
                continue
            sent = await self._hand_over(
                delivery,
                self._providers[channel],
                recipient=recipient.mobile,
                body=rendered.text,
                scheduled=False,
            )
            await self._publish_outcome(cause, sent)

    # -- the scheduler's side -------------------------------------------------------------

    async def send_due(self, *, limit: int = 50) -> int:
        """Send (or defer again) the messages whose time has come; returns how many were
        taken. Called by the scheduler loop."""
        due = await self._ledger.claim_due(now=self._clock(), limit=limit, lease=self._lease)
        for delivery in due:
            if delivery.recipient_sealed is None or delivery.body is None:
                # Only rows deferred by this code are due; a row without its address
                # cannot be sent by anyone, so it is settled rather than retried forever.
                await self._ledger.mark_failed(
                    delivery.key, provider="scheduler", error="nothing kept to send"
                )
                continue
            try:
                mobile = self._sealer.open(
                    delivery.recipient_sealed, context=recipient_context(delivery.key)
                )
            except (PiiError, ValueError) as exc:
                await self._ledger.mark_failed(
                    delivery.key, provider="scheduler", error=f"address does not open: {exc}"
                )
                continue
            event_id = delivery.key.event_id.split(PART_SEPARATOR, 1)[0]
            cause = Cause(event_id, delivery.cause_event_type, {})
            try:
                await self._settle(
                    delivery, cause, recipient=mobile, body=delivery.body, scheduled=True
                )
            except TemporaryProviderError as exc:
                at = self._clock() + self._retry_base * 2 ** min(delivery.attempts, 10)
                await self._ledger.retry_later(
                    delivery.key,
                    at=at,
                    error=str(exc),
                    not_sent=exc.not_sent,
                    body=delivery.body,
                    recipient_sealed=delivery.recipient_sealed,
                )
                log.info(
                    "deferred message retried later",
                    application_code=delivery.application_code,
                    channel=delivery.key.channel,
                    error=str(exc),
                )
        # Real time, not the policy's clock: the consumer publishes right after settling,
        # and only what it left behind for a while (a crash) is made up here. The event
        # id is deterministic, so a rare double publication is a duplicate consumers drop.
        settled_before = datetime.now(UTC) - UNPUBLISHED_GRACE
        for delivery in await self._ledger.unpublished(settled_before=settled_before, limit=limit):
            event_id = delivery.key.event_id.split(PART_SEPARATOR, 1)[0]
            await self._publish_outcome(Cause(event_id, delivery.cause_event_type, {}), delivery)
        return len(due)

    # -- one delivery ----------------------------------------------------------------------

    async def _settle(
        self,
        delivery: Delivery,
        cause: Cause,
        *,
        recipient: str,
        body: str,
        scheduled: bool = False,
    ) -> None:
        key = delivery.key
        provider = self._providers[key.channel]
        action = next_action(
            delivery.state, provider_idempotent=provider.idempotent, scheduled=scheduled
        )
        if action is Action.WAIT:
            log.info(
                "message waits for its time",
                application_code=delivery.application_code,
                event_id=key.event_id,
                channel=key.channel,
            )
            return
        if action is Action.NOTHING:
            REDELIVERIES.labels(key.channel).inc()
            log.info(
                "already delivered",
                application_code=delivery.application_code,
                event_id=key.event_id,
                channel=key.channel,
                status=delivery.status.value,
            )
            return
        if action is Action.SEND:
            sent = await self._send(
                delivery, provider, recipient=recipient, body=body, scheduled=scheduled
            )
            if sent is None:
                return  # deferred
            delivery = sent
        elif action is Action.MARK_POSSIBLY_SENT:
            delivery = await self._ledger.mark_possibly_sent(
                key, provider=provider.name, at=self._clock()
            )
            NOTIFICATIONS.labels(key.channel, provider.name, "possibly_sent").inc()
            log.warning(
                "send in doubt, not repeated",
                application_code=delivery.application_code,
                event_id=key.event_id,
                channel=key.channel,
                to=delivery.recipient_masked,
            )
        await self._publish_outcome(cause, delivery)

    async def _send(
        self,
        delivery: Delivery,
        provider: Provider,
        *,
        recipient: str,
        body: str,
        scheduled: bool,
    ) -> Delivery | None:
        key = delivery.key
        now = self._clock()
        deferral = await self._ledger.begin_send_within_policy(
            key,
            now=now,
            policy=self._policy,
            urgent=delivery.urgent,
            body=body,
            recipient_sealed=self._sealer.seal(recipient, context=recipient_context(key)),
            lease_until=now + self._lease if scheduled else None,
        )
        if deferral is not None:
            DEFERRALS.labels(key.channel, deferral.reason.value).inc()
            log.info(
                "message deferred",
                application_code=delivery.application_code,
                event_id=key.event_id,
                channel=key.channel,
                to=delivery.recipient_masked,
                reason=deferral.reason.value,
                until=deferral.until.isoformat(),
            )
            return None
        return await self._hand_over(
            delivery, provider, recipient=recipient, body=body, scheduled=scheduled
        )

    async def _hand_over(
        self,
        delivery: Delivery,
        provider: Provider,
        *,
        recipient: str,
        body: str,
        scheduled: bool,
    ) -> Delivery:
        """A send begun in the ledger: through the provider, and its result recorded."""
        key = delivery.key
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
            return await self._ledger.mark_failed(
                key, provider=provider.name, error=str(exc), at=self._clock()
            )
        except TemporaryProviderError as exc:
            if exc.not_sent and not scheduled:
                await self._ledger.release(key, error=str(exc))
            raise  # the consumer retries with backoff; the scheduler reschedules
        delivery = await self._ledger.mark_sent(
            key,
            provider=result.provider,
            provider_message_id=result.provider_message_id,
            segments=result.segments,
            at=self._clock(),
        )
        if not result.duplicate:
            NOTIFICATIONS.labels(key.channel, provider.name, "sent").inc()
            if key.channel == "sms":
                SMS_SEGMENTS.labels(provider.name).inc(result.segments)
        return delivery

    async def _publish_outcome(self, cause: Cause, delivery: Delivery) -> None:
        sent_at = delivery.completed_at or datetime.now(UTC)
        event = notification_pb2.NotificationSent(
            application_code=delivery.application_code,
            cause_event_id=cause.event_id,
            cause_event_type=cause.event_type,
            channel=delivery.key.channel,
            recipient_masked=delivery.recipient_masked,
            template=delivery.template,
            status=_STATUS[delivery.status],
            provider=delivery.provider or "",
            provider_message_id=delivery.provider_message_id or "",
            segments=delivery.segments or 0,
        )
        event.sent_at.FromDatetime(sent_at)
        await self._publish(
            new_envelope(
                event,
                source=SOURCE,
                application_code=delivery.application_code,
                event_id=delivery.key.outcome_event_id,
                time=sent_at,
                trace_headers=dict(cause.trace_headers),
            )
        )
        await self._ledger.mark_published(delivery.key)
        log.info(
            "notification outcome",
            application_code=delivery.application_code,
            event_id=cause.event_id,
            channel=delivery.key.channel,
            to=delivery.recipient_masked,
            template=delivery.template,
            status=delivery.status.value,
            segments=delivery.segments,
        )


async def both(first: Awaitable[T], second: Awaitable[object]) -> T:
    """Run both to their end side by side; the first's result, or the first error raised
    (the first's before the second's), once neither is running any more."""
    results = await asyncio.gather(first, second, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results[0]  # type: ignore[return-value]


def _contact(message: Message) -> application_pb2.Contact | None:
    """The applicant's contact carried by citizen-facing events."""
    descriptor = message.DESCRIPTOR
    if "contact" not in descriptor.fields_by_name or not message.HasField("contact"):
        return None
    contact = message.contact  # type: ignore[attr-defined]
    assert isinstance(contact, application_pb2.Contact)
    return contact
