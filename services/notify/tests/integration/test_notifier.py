"""The ledger-first delivery against the real database, with the crashes it must survive:
a send in doubt, a lost outcome event, provider failures. No Kafka: the outcome events
go to a recording publisher."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import notification_pb2
from onceonly.notify.errors import PermanentProviderError, TemporaryProviderError
from onceonly.notify.ledger import DeliveryStatus, LedgerKey, recipient_hash
from onceonly.notify.notifier import Notifier
from onceonly.notify.providers import LocalProvider, OutboundMessage, Provider, SendResult
from onceonly.notify.store import DeliveryLedger
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import PermanentMessageError

pytestmark = pytest.mark.integration

SECRET = "notify-test-secret"
MOBILE = "13812345678"


@dataclass
class RecordingPublisher:
    published: list[Envelope] = field(default_factory=list)

    async def __call__(self, envelope: Envelope) -> None:
        self.published.append(envelope)

    def outcomes(self) -> list[notification_pb2.NotificationSent]:
        return [envelope.message() for envelope in self.published]  # type: ignore[misc]


@dataclass
class ScriptedProvider:
    """A provider without idempotency keys that fails as scripted, then succeeds."""

    failures: list[Exception] = field(default_factory=list)
    idempotent: bool = False
    name: str = "scripted"
    delivered: list[OutboundMessage] = field(default_factory=list)
    calls: int = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(message)
        return SendResult(
            provider=self.name,
            provider_message_id=f"scripted-{len(self.delivered)}",
            segments=1,
            sent_at=datetime.now(UTC),
        )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def ledger(pool: asyncpg.Pool) -> DeliveryLedger:
    return DeliveryLedger(pool)


def _notifier(ledger, provider: Provider, publisher, sealer) -> Notifier:
    return Notifier(
        ledger=ledger,
        provider=provider,
        publish=publisher,
        sealer=sealer,
        catalogue=default_catalogue(),
        recipient_hash_key=SECRET,
    )


def _key(envelope: Envelope) -> LedgerKey:
    return LedgerKey(envelope.id, "sms", recipient_hash(SECRET, MOBILE))


async def _local_count(pool: asyncpg.Pool, code: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM notify.local_messages WHERE application_code = $1", code
    )


async def test_a_crash_mid_send_is_finished_through_the_local_providers_key(
    pool, ledger, publisher, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.accepted(code), code)
    local = LocalProvider(pool, sealer)
    # What a crash leaves: the ledger row pending with a send begun, the message taken by
    # the provider, and no result recorded.
    key = _key(envelope)
    await ledger.open(
        key,
        application_code=code,
        cause_event_type=envelope.type,
        recipient_masked="1381234****",
        template="application_accepted.accepted",
        language="zh",
    )
    await ledger.begin_send(key)
    await local.send(
        OutboundMessage(key.idempotency_key, code, "sms", MOBILE, "1381234****", "text")
    )

    await _notifier(ledger, local, publisher, sealer).handle(envelope)

    delivery = await ledger.get(key)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.sending_since is None
    assert await _local_count(pool, code) == 1  # finished, not sent twice
    [outcome] = publisher.outcomes()
    assert outcome.status == notification_pb2.DELIVERY_STATUS_SENT
    assert outcome.provider_message_id == delivery.provider_message_id


async def test_a_send_in_doubt_without_idempotency_is_recorded_not_repeated(
    ledger, publisher, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.accepted(code), code)
    provider = ScriptedProvider()
    key = _key(envelope)
    await ledger.open(
        key,
        application_code=code,
        cause_event_type=envelope.type,
        recipient_masked="1381234****",
        template="application_accepted.accepted",
        language="zh",
    )
    await ledger.begin_send(key)  # ...and the process died

    notifier = _notifier(ledger, provider, publisher, sealer)
    await notifier.handle(envelope)
    await notifier.handle(envelope)  # and once more, redelivered

    assert provider.calls == 0
    assert (await ledger.get(key)).status is DeliveryStatus.POSSIBLY_SENT
    [outcome] = publisher.outcomes()
    assert outcome.status == notification_pb2.DELIVERY_STATUS_POSSIBLY_SENT


async def test_a_provider_failing_twice_then_succeeding_sends_once(
    ledger, publisher, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.decided(code), code)
    provider = ScriptedProvider(
        failures=[
            TemporaryProviderError("connection refused", not_sent=True),
            TemporaryProviderError("503 from gateway", not_sent=True),
        ]
    )
    notifier = _notifier(ledger, provider, publisher, sealer)
    # The consumer retries a handler that raises; here the retries are explicit.
    for _ in range(2):
        with pytest.raises(TemporaryProviderError):
            await notifier.handle(envelope)
        assert (await ledger.get(_key(envelope))).sending_since is None
    await notifier.handle(envelope)
    await notifier.handle(envelope)  # a redelivery after success

    assert provider.calls == 3
    assert len(provider.delivered) == 1
    assert provider.delivered[0].recipient == MOBILE
    delivery = await ledger.get(_key(envelope))
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.attempts == 3
    assert len(publisher.published) == 1


async def test_a_timeout_of_unknown_outcome_leaves_the_send_in_doubt(
    ledger, publisher, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.decided(code), code)
    provider = ScriptedProvider(failures=[TemporaryProviderError("read timeout")])
    notifier = _notifier(ledger, provider, publisher, sealer)
    with pytest.raises(TemporaryProviderError):
        await notifier.handle(envelope)
    await notifier.handle(envelope)  # the consumer's retry
    assert provider.calls == 1
    assert (await ledger.get(_key(envelope))).status is DeliveryStatus.POSSIBLY_SENT


async def test_a_permanent_failure_is_recorded_reported_and_not_retried(
    ledger, publisher, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.rejected(code), code)
    provider = ScriptedProvider(failures=[PermanentProviderError("number not in service")])
    notifier = _notifier(ledger, provider, publisher, sealer)
    await notifier.handle(envelope)
    await notifier.handle(envelope)
    assert provider.calls == 1
    delivery = await ledger.get(_key(envelope))
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "number not in service"
    [outcome] = publisher.outcomes()
    assert outcome.status == notification_pb2.DELIVERY_STATUS_FAILED


async def test_an_outcome_lost_in_a_crash_is_published_again_without_resending(
    pool, ledger, sealer, events
) -> None:
    code = events.code()
    envelope = events.envelope(events.withdrawn(code), code)
    local = LocalProvider(pool, sealer)

    class Crash(Exception):
        pass

    async def crashing_publish(_: Envelope) -> None:
        raise Crash

    with pytest.raises(Crash):
        await _notifier(ledger, local, crashing_publish, sealer).handle(envelope)
    assert (await ledger.get(_key(envelope))).status is DeliveryStatus.SENT

    publisher = RecordingPublisher()
    notifier = _notifier(ledger, local, publisher, sealer)
    await notifier.handle(envelope)
    await notifier.handle(envelope)
    assert await _local_count(pool, code) == 1
    assert len(publisher.published) == 1
    assert publisher.published[0].id == _key(envelope).outcome_event_id


async def test_the_ledger_holds_no_phone_number(pool, ledger, publisher, sealer, events) -> None:
    code = events.code()
    envelope = events.envelope(events.accepted(code), code)
    await _notifier(ledger, LocalProvider(pool, sealer), publisher, sealer).handle(envelope)
    rows = await pool.fetch(
        "SELECT row_to_json(d)::text AS row FROM notify.deliveries d WHERE application_code = $1",
        code,
    )
    assert len(rows) == 1
    stored = json.loads(rows[0]["row"])
    assert stored["recipient_masked"] == "1381234****"
    assert MOBILE not in rows[0]["row"]
    assert "12345678" not in rows[0]["row"]  # not even the tail


async def test_a_mobile_sealed_for_another_application_is_a_permanent_error(
    ledger, publisher, sealer, events
) -> None:
    code = events.code()
    message = events.accepted(code)
    message.contact.CopyFrom(events.contact(events.code()))
    provider = ScriptedProvider()
    notifier = _notifier(ledger, provider, publisher, sealer)
    with pytest.raises(PermanentMessageError, match="does not open"):
        await notifier.handle(events.envelope(message, code))
    assert provider.calls == 0
    assert publisher.published == []
