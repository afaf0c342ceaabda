"""帮代办: an agent whose authorisation includes `receive_notifications` hears what the
applicant hears (its own ledger rows), while the authorisation is valid; an agent without
it hears nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from onceonly.catalogue import default_catalogue
from onceonly.events.v1 import application_pb2
from onceonly.notify.notifier import Notifier
from onceonly.notify.providers import LocalProvider
from onceonly.notify.store import DeliveryLedger
from onceonly.platform.envelope import Envelope
from onceonly.platform.pii import PiiSealer, mask_mobile

pytestmark = pytest.mark.integration

AGENT_MOBILE = "13798765432"
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def submitted(events, sealer: PiiSealer, code: str, scope: list[str], until: date) -> Envelope:
    agent = application_pb2.Agent(
        name=sealer.sealed_text("李四", "李**", context=f"{code}:agent:name"),
        mobile=sealer.sealed_text(
            AGENT_MOBILE, mask_mobile(AGENT_MOBILE), context=f"{code}:agent:mobile"
        ),
        relation="service_centre",
        authorisation=application_pb2.Authorisation(
            scope=scope,
            valid_from="2026-12-01",
            valid_until=until.isoformat(),
            given_by="recorded_consent",
            consent_reference="kiosk-1",
        ),
    )
    message = application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code="business-startup",
        contact=events.contact(code),
        agent=agent,
    )
    return events.envelope(message, code)


def notifier(pool: asyncpg.Pool, sealer: PiiSealer, now: datetime = NOW) -> Notifier:
    async def publish(envelope: Envelope) -> None:
        return None

    return Notifier(
        ledger=DeliveryLedger(pool),
        provider=LocalProvider(pool, sealer),
        publish=publish,
        sealer=sealer,
        catalogue=default_catalogue(),
        recipient_hash_key="notify-test-secret",
        clock=lambda: now,
    )


async def recipients(pool: asyncpg.Pool, code: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT recipient_masked FROM notify.deliveries WHERE application_code = $1"
        " ORDER BY recipient_masked",
        code,
    )
    return [row["recipient_masked"] for row in rows]


async def test_an_authorised_agent_hears_what_the_applicant_hears_once(
    pool, sealer, events
) -> None:
    code = events.code()
    handler = notifier(pool, sealer)
    await handler.handle(
        submitted(events, sealer, code, ["submit", "receive_notifications"], date(2026, 12, 31))
    )
    accepted = events.envelope(events.accepted(code), code)
    await handler.handle(accepted)
    await handler.handle(accepted)  # redelivered: nobody is told twice
    assert await recipients(pool, code) == ["1379876****", "1381234****"]
    stored = await pool.fetchval(
        "SELECT mobile_sealed FROM notify.agent_contacts WHERE application_code = $1", code
    )
    assert AGENT_MOBILE not in stored


async def test_an_agent_without_the_scope_or_past_the_validity_hears_nothing(
    pool, sealer, events
) -> None:
    unscoped = events.code()
    handler = notifier(pool, sealer)
    await handler.handle(submitted(events, sealer, unscoped, ["submit"], date(2026, 12, 31)))
    await handler.handle(events.envelope(events.accepted(unscoped), unscoped))
    assert await recipients(pool, unscoped) == ["1381234****"]

    expired = events.code()
    later = notifier(pool, sealer, now=NOW + timedelta(days=30))
    await later.handle(
        submitted(events, sealer, expired, ["submit", "receive_notifications"], date(2026, 12, 31))
    )
    await later.handle(events.envelope(events.accepted(expired), expired))
    assert await recipients(pool, expired) == ["1381234****"]
