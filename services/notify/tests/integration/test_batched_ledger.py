"""The ledger's group-committed statements against the real database: many messages
handled at once share one statement per step, and each still gets exactly its own row,
as the one-at-a-time statements gave it (a row found already is left as it is)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2
from onceonly.notify.ledger import DeliveryStatus, LedgerKey
from onceonly.notify.notifier import Notifier
from onceonly.notify.providers import LocalProvider, OutboundMessage
from onceonly.notify.store import DeliveryLedger
from onceonly.notify.webhook_store import WebhookStore
from onceonly.platform.envelope import Envelope
from onceonly.platform.pii import PiiSealer

pytestmark = pytest.mark.integration

SECRET = "notify-batch-secret"
MOBILE = "13812345678"


def _keys(count: int) -> list[LedgerKey]:
    run = uuid.uuid4().hex
    return [LedgerKey(f"{run}-{n}", "sms", f"hash-{n}") for n in range(count)]


async def _open(ledger: DeliveryLedger, key: LedgerKey, *, now: datetime | None):
    return await ledger.open_to_send(
        key,
        application_code=f"T-{key.event_id[-6:]}",
        cause_event_type="onceonly.approval.v1.ApplicationAccepted",
        recipient_masked="1381234****",
        template="application_accepted.accepted",
        language="zh",
        sending_since=now,
    )


async def test_openings_made_together_each_get_their_row_and_only_new_ones_start(
    pool: asyncpg.Pool,
) -> None:
    ledger = DeliveryLedger(pool)
    keys = _keys(12)
    earlier = await ledger.open(
        keys[5],
        application_code="T-earlier",
        cause_event_type="onceonly.approval.v1.ApplicationAccepted",
        recipient_masked="1381234****",
        template="application_accepted.accepted",
        language="zh",
    )
    now = datetime.now(UTC)
    opened = await asyncio.gather(*(_open(ledger, key, now=now) for key in keys))

    for key, (delivery, started) in zip(keys, opened, strict=True):
        assert delivery.key == key
        if key == keys[5]:
            # Found, not written: as the earlier delivery left it, and not to be sent here.
            assert not started
            assert delivery.application_code == "T-earlier"
            assert delivery.sending_since is None and delivery.attempts == 0
        else:
            assert started
            assert delivery.status is DeliveryStatus.PENDING
            assert delivery.sending_since == now and delivery.attempts == 1
    assert earlier.key == keys[5]

    # Opened again (a redelivery): every row is found, none is started a second time.
    again = await asyncio.gather(*(_open(ledger, key, now=now) for key in keys))
    assert [started for _, started in again] == [False] * len(keys)
    assert [d.attempts for d, _ in again] == [d.attempts for d, _ in opened]


async def test_marks_made_together_settle_each_row_and_leave_settled_ones_alone(
    pool: asyncpg.Pool,
) -> None:
    ledger = DeliveryLedger(pool)
    keys = _keys(6)
    await asyncio.gather(*(_open(ledger, key, now=datetime.now(UTC)) for key in keys))
    failed = await ledger.mark_failed(keys[0], provider="local", error="refused")

    sent = await asyncio.gather(
        *(
            ledger.mark_sent(key, provider="local", provider_message_id=f"m-{n}", segments=1)
            for n, key in enumerate(keys)
        )
    )
    assert sent[0].status is DeliveryStatus.FAILED  # settled already: read as it is
    assert sent[0].completed_at == failed.completed_at
    for n, delivery in enumerate(sent[1:], start=1):
        assert delivery.key == keys[n]
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.provider_message_id == f"m-{n}"
        assert delivery.sending_since is None

    await asyncio.gather(*(ledger.mark_published(key) for key in keys))
    published = [await ledger.get(key) for key in keys]
    assert all(d.outcome_published_at is not None for d in published)


async def test_the_local_provider_writes_messages_sent_together_once_each(
    pool: asyncpg.Pool, sealer: PiiSealer
) -> None:
    provider = LocalProvider(pool, sealer)
    code = f"T-{uuid.uuid4().hex[:10]}"
    messages = [
        OutboundMessage(f"{code}/{n}/sms/h", code, "sms", MOBILE, "1381234****", f"text {n}")
        for n in range(8)
    ]
    first = await provider.send(messages[3])
    results = await asyncio.gather(*(provider.send(m) for m in messages))

    assert results[3].duplicate and results[3].provider_message_id == first.provider_message_id
    assert [r.duplicate for n, r in enumerate(results) if n != 3] == [False] * 7
    assert len({r.provider_message_id for r in results}) == 8
    rows = await pool.fetch(
        "SELECT idempotency_key, body FROM notify.local_messages WHERE application_code = $1",
        code,
    )
    assert sorted((r["idempotency_key"], r["body"]) for r in rows) == sorted(
        (m.idempotency_key, m.body) for m in messages
    )


async def test_applications_notified_together_get_one_message_each(
    pool: asyncpg.Pool, sealer: PiiSealer, events
) -> None:
    """The consumer's way: many events handled at once, their statements shared."""
    published: list[Envelope] = []

    async def publish(envelope: Envelope) -> None:
        published.append(envelope)

    notifier = Notifier(
        ledger=DeliveryLedger(pool),
        provider=LocalProvider(pool, sealer),
        publish=publish,
        sealer=sealer,
        catalogue=default_catalogue(),
        recipient_hash_key=SECRET,
    )
    codes = [events.code() for _ in range(20)]
    envelopes = [events.envelope(events.accepted(code), code) for code in codes]
    await asyncio.gather(*(notifier.handle(envelope) for envelope in envelopes))
    await asyncio.gather(*(notifier.handle(envelope) for envelope in envelopes))  # again

    counts = await pool.fetch(
        "SELECT application_code, count(*) AS n FROM notify.local_messages"
        " WHERE application_code = ANY($1::text[]) GROUP BY application_code",
        codes,
    )
    assert {row["application_code"]: row["n"] for row in counts} == dict.fromkeys(codes, 1)
    assert sorted(e.subject for e in published) == sorted(codes)  # one outcome each


async def test_webhook_deliveries_queued_together_each_go_to_their_integrator(
    pool: asyncpg.Pool,
) -> None:
    store = WebhookStore(pool)
    registered, unregistered = (f"int-{uuid.uuid4().hex[:10]}" for _ in range(2))
    await store.set_webhook(
        registered, url="https://hooks.invalid/hook", key_id="k1", secret_sealed="sealed"
    )
    code = f"T-{uuid.uuid4().hex[:10]}"
    events = [(f"{code}-{n}", registered if n % 2 else unregistered) for n in range(6)]
    await asyncio.gather(
        *(
            store.enqueue(
                event_id=event_id,
                integrator_id=integrator,
                application_code=code,
                event_type="onceonly.approval.v1.ApplicationAccepted",
                payload=f'{{"n": "{event_id}"}}',
                give_up_after=timedelta(hours=n + 1),
            )
            for n, (event_id, integrator) in enumerate(events)
        )
    )
    rows = await pool.fetch(
        "SELECT event_id, recipient_hash, payload, give_up_at - created_at AS patience"
        " FROM notify.deliveries WHERE application_code = $1 AND channel = 'webhook'",
        code,
    )
    # Only the integrator with a webhook has deliveries, each with its own payload.
    assert sorted((r["event_id"], r["recipient_hash"], r["payload"]) for r in rows) == [
        (event_id, registered, f'{{"n": "{event_id}"}}')
        for event_id, integrator in events
        if integrator == registered
    ]
    assert sorted(r["patience"] for r in rows) == [timedelta(hours=h) for h in (2, 4, 6)]
    # Nothing left for a running dispatcher of the same database to try.
    await pool.execute("DELETE FROM notify.deliveries WHERE application_code = $1", code)
    await store.delete_webhook(registered)


async def test_contacts_and_integrators_recorded_at_once_each_get_their_row(
    pool: asyncpg.Pool,
) -> None:
    run = uuid.uuid4().hex[:10]
    codes = [f"T{run}-{n}" for n in range(4)]
    channels = [["sms", "app"], [], ["app"], ["sms"]]
    ledger, webhooks = DeliveryLedger(pool), WebhookStore(pool)

    def contact(n: int) -> application_pb2.Contact:
        found = application_pb2.Contact(channels=channels[n], language="zh-CN")
        found.mobile.sealed, found.mobile.masked = f"sealed-{n}", f"138****000{n}"
        return found

    await asyncio.gather(
        *(
            ledger.record_contact(code, contact(n), "330106" if n else "")
            for n, code in enumerate(codes)
        ),
        *(webhooks.record_application(code, f"int-{n}") for n, code in enumerate(codes)),
        # A second word for the first application, in the same batch or the next: the
        # first stays.
        ledger.record_contact(codes[0], contact(3), "330999"),
        webhooks.record_application(codes[0], "int-late"),
    )
    rows = await pool.fetch(
        "SELECT c.application_code, c.mobile_sealed, c.mobile_masked, c.channels,"
        " c.language, c.competent_region, a.integrator_id FROM notify.contacts c"
        " JOIN notify.applications a USING (application_code)"
        " WHERE c.application_code = ANY($1::text[]) ORDER BY c.application_code",
        codes,
    )
    assert [tuple(row) for row in rows] == [
        (
            code,
            f"sealed-{n}",
            f"138****000{n}",
            channels[n],
            "zh-CN",
            "330106" if n else None,
            f"int-{n}",
        )
        for n, code in enumerate(codes)
    ]
