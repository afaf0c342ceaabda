"""The notify consumer against real Kafka and Postgres: one message per (event, channel,
recipient), a NotificationSent per delivery, redelivery harmless, poison parked."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from onceonly.events.v1 import application_pb2, envelope_pb2, notification_pb2
from onceonly.notify.ledger import LedgerKey, recipient_hash
from onceonly.notify.runtime import NotifyRuntime
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

MOBILE = "13812345678"
MASKED = "1381234****"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def _local_messages(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.local_messages WHERE application_code = $1 ORDER BY created_at",
        code,
    )


async def _deliveries(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE application_code = $1 ORDER BY created_at", code
    )


def _outcomes(records: list[Any], code: str) -> list[tuple[Envelope, Any]]:
    found = []
    for record in records:
        envelope = Envelope.from_kafka(record.headers, record.value)
        if envelope.subject == code:
            found.append((envelope, envelope.message()))
    return found


async def test_each_citizen_event_sends_one_message_and_reports_it_masked(
    runtime: NotifyRuntime, producer: AIOKafkaProducer, pool, events, reader
) -> None:
    code = events.code()
    accepted = events.envelope(events.accepted(code), code)
    started = events.envelope(events.task_started(code), code)  # no citizen message
    decided = events.envelope(events.decided(code, language="en"), code)
    for envelope in (accepted, started, decided):
        await publish(producer, runtime.source_topic, envelope)

    deliveries = await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: len(rows) == 2 and all(row["status"] == "sent" for row in rows),
        what="two sent deliveries",
    )
    assert {row["event_id"] for row in deliveries} == {accepted.id, decided.id}
    assert all(row["attempts"] == 1 and row["provider"] == "local" for row in deliveries)

    messages = await _local_messages(pool, code)
    assert len(messages) == 2
    bodies = {message["body"] for message in messages}
    accepted_text = f"【政务服务】您的办件{code}（企业开办一件事）已受理，承诺2025年3月14日前办结。"
    assert accepted_text in bodies
    assert f"[Gov Services] Your application {code}: Tax Bureau has approved its part." in bodies
    for message in messages:
        assert message["recipient_masked"] == MASKED
        assert MOBILE not in message["recipient_sealed"]
        assert events.sealer.open(message["recipient_sealed"], context=f"{code}:mobile") == MOBILE

    async with reader(runtime.outcomes_topic) as outcomes:
        records = await outcomes.until(
            lambda rs: len(_outcomes(rs, code)) >= 2, what="two NotificationSent events"
        )
    sent = _outcomes(records, code)
    assert len(sent) == 2
    by_cause = {message.cause_event_id: (envelope, message) for envelope, message in sent}
    assert set(by_cause) == {accepted.id, decided.id}
    hashed = recipient_hash(runtime.settings.recipient_hash_key(), MOBILE)
    for cause in (accepted, decided):
        envelope, message = by_cause[cause.id]
        assert envelope.type == "onceonly.events.v1.NotificationSent"
        assert envelope.id == LedgerKey(cause.id, "sms", hashed).outcome_event_id
        assert envelope.traceparent.split("-")[1] == TRACE_ID  # same trace as the cause
        assert message.recipient_masked == MASKED
        assert message.status == notification_pb2.DELIVERY_STATUS_SENT
        assert message.channel == "sms"
        assert message.provider == "local"
        assert message.segments >= 1
        assert message.cause_event_type == cause.type
    # Nothing published carries the number in clear.
    assert all(MOBILE.encode() not in record.value for record in records)


async def test_a_redelivered_event_sends_nothing_new(
    runtime: NotifyRuntime, producer: AIOKafkaProducer, pool, events, reader
) -> None:
    code = events.code()
    first = events.envelope(events.accepted(code), code)
    await publish(producer, runtime.source_topic, first)
    await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["outcome_published_at"] is not None,
        what="the first delivery, reported",
    )

    # The same event again (same id), then a marker on the same key, hence the same
    # partition: once the marker is delivered, the duplicate has been handled.
    await publish(producer, runtime.source_topic, first)
    await publish(producer, runtime.source_topic, first)
    marker = events.envelope(events.withdrawn(code), code)
    await publish(producer, runtime.source_topic, marker)
    await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: any(r["event_id"] == marker.id and r["status"] == "sent" for r in rows),
        what="the marker's delivery",
    )

    messages = await _local_messages(pool, code)
    assert len(messages) == 2
    assert sum("已受理" in message["body"] for message in messages) == 1
    rows = {row["event_id"]: row for row in await _deliveries(pool, code)}
    assert rows[first.id]["attempts"] == 1

    async with reader(runtime.outcomes_topic) as outcomes:
        records = await outcomes.until(
            lambda rs: len(_outcomes(rs, code)) >= 2, what="the marker's outcome"
        )
    causes = [message.cause_event_id for _, message in _outcomes(records, code)]
    assert sorted(causes) == sorted([first.id, marker.id])


async def test_poison_messages_are_parked_and_the_consumer_goes_on(
    runtime: NotifyRuntime, producer: AIOKafkaProducer, pool, events, reader
) -> None:
    code = events.code()
    # Not a CloudEvent at all.
    await producer.send_and_wait(
        runtime.source_topic, value=b"\x00garbage", key=code.encode(), headers=[]
    )
    # A citizen event whose sealed mobile belongs to another application: it cannot open.
    other = events.code()
    stolen = events.accepted(code)
    stolen.contact.CopyFrom(events.contact(other))
    await publish(producer, runtime.source_topic, events.envelope(stolen, code))
    # A mobile sealed with a key notify does not hold.
    foreign = PiiSealer("dev1:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=")
    forged = events.accepted(code)
    forged.contact.mobile.sealed = foreign.seal(MOBILE, context=f"{code}:mobile")
    await publish(producer, runtime.source_topic, events.envelope(forged, code))
    good = events.envelope(events.withdrawn(code), code)
    await publish(producer, runtime.source_topic, good)

    deliveries = await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the good event's delivery",
    )
    assert deliveries[0]["event_id"] == good.id
    assert len(await _local_messages(pool, code)) == 1

    async with reader(runtime.dead_letter_topic) as dlq:
        records = await dlq.until(lambda rs: len(rs) >= 3, what="three dead letters")
    letters = []
    for record in records:
        letter = envelope_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        letters.append(letter)
    assert len(letters) == 3
    assert all(letter.consumer == "notify" for letter in letters)
    assert all(letter.source_topic == runtime.source_topic for letter in letters)
    assert "EnvelopeError" in letters[0].reason
    assert "does not open" in letters[1].reason
    assert "does not open" in letters[2].reason
    assert runtime.consumer is not None and runtime.consumer.parked == 3


async def test_each_channel_the_applicant_chose_and_only_those(
    runtime: NotifyRuntime, producer: AIOKafkaProducer, pool, events
) -> None:
    code = events.code()
    app_only = events.envelope(events.accepted(code, channels=("app",)), code)
    both = events.envelope(events.decided(code, channels=("sms", "app")), code)
    neither = events.envelope(events.withdrawn(code, channels=("email",)), code)
    for envelope in (app_only, both, neither):
        await publish(producer, runtime.source_topic, envelope)
    marker = events.envelope(events.completed(code, channels=("sms",)), code)
    await publish(producer, runtime.source_topic, marker)
    rows = await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: (
            sum(r["event_id"].startswith(marker.id) and r["status"] == "sent" for r in rows) == 2
        ),
        what="the marker's deliveries (completion and rating invitation)",
    )
    sent = sorted((row["event_id"], row["channel"]) for row in rows)
    assert sent == sorted(
        [
            (app_only.id, "app"),
            (both.id, "sms"),
            (both.id, "app"),
            (marker.id, "sms"),
            (f"{marker.id}#rating-invitation", "sms"),
        ]
    )
    assert all(row["status"] == "sent" for row in rows)


async def test_a_supplement_ahead_of_its_submission_is_told_once_the_contact_is_known(
    runtime: NotifyRuntime, settings, producer: AIOKafkaProducer, pool, events
) -> None:
    """Kafka orders nothing across topics: the supplement (applicant updates) may come
    before the submission that gives the contact. It waits aside, then is told."""
    code = events.code()
    supplement = events.envelope(
        application_pb2.SupplementProvided(
            application_code=code,
            materials=[application_pb2.Material(code="seal-specimen", reference="doc-1")],
        ),
        code,
    )
    await publish(producer, runtime.updates_topic, supplement)

    async def waiting() -> int:
        return await pool.fetchval(
            "SELECT count(*) FROM platform.deferred_events WHERE consumer = $1 AND key = $2",
            settings.notify_consumer_group,
            code.encode(),
        )

    await eventually(waiting, lambda n: n == 1, what="the supplement set aside")
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code="business-startup",
        integrator_id="portal",
        contact=events.contact(code),
    )
    await publish(producer, runtime.submissions_topic, events.envelope(submitted, code))
    [delivery] = await eventually(
        lambda: _deliveries(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the supplement's message sent",
    )
    assert delivery["event_id"] == supplement.id
    # Released once handled: the row goes just after the message is recorded.
    await eventually(waiting, lambda n: n == 0, what="the supplement released")
