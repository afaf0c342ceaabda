"""Quiet hours and the per-number SMS rate limit on the real consumer and database: the
excess is deferred, not dropped (urgent messages go at once), and a deferred message is
sent after a restart of notify, once.

The runtime's clock is set by the test (Beijing noon or night, two days ahead of real
time so that no other test's notify, on the real clock, finds these messages due)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from onceonly.catalogue.calendar import CHINA_STANDARD_TIME
from onceonly.events.v1 import approval_pb2
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration


def _day_after_tomorrow_at(hour: int, minute: int = 0) -> datetime:
    today = datetime.now(CHINA_STANDARD_TIME).date() + timedelta(days=2)
    return datetime(today.year, today.month, today.day, hour, minute, tzinfo=CHINA_STANDARD_TIME)


@pytest.fixture
def policy_settings(settings: NotifySettings) -> NotifySettings:
    return settings.model_copy(
        update={
            "notify_sms_per_hour": 2,
            "notify_quiet_hours": "22:00-08:00",
            "notify_scheduler_poll_seconds": 0.05,
        }
    )


@pytest.fixture
def mobile() -> str:
    """A number of this test's own, so other tests' messages do not count against it."""
    return f"137{random.randrange(10**8):08d}"


@asynccontextmanager
async def running(
    settings: NotifySettings, pool: asyncpg.Pool, at: datetime
) -> AsyncIterator[NotifyRuntime]:
    runtime = NotifyRuntime(settings, pool=pool, clock=lambda: at.astimezone(UTC))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _rows(pool: asyncpg.Pool, code: str) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE application_code = $1 AND channel = 'sms'", code
    )
    return {row["event_id"]: row for row in rows}


async def _copies(pool: asyncpg.Pool, code: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM notify.local_messages WHERE application_code = $1", code
    )


async def test_the_excess_over_the_hourly_limit_waits_and_urgent_messages_do_not(
    policy_settings: NotifySettings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    events,
    mobile: str,
) -> None:
    noon = _day_after_tomorrow_at(12)
    code = events.code()
    ordinary = [
        events.envelope(events.decided(code, department=dept, mobile=mobile), code)
        for dept in ("tax", "public-security", "market-regulation")
    ]
    urgent = events.envelope(
        events.decided(
            code,
            outcome=approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED,
            reason="缺少印章印模",
            mobile=mobile,
        ),
        code,
    )
    async with running(policy_settings, pool, noon) as runtime:
        for envelope in [*ordinary, urgent]:
            await publish(producer, runtime.source_topic, envelope)
        rows = await eventually(
            lambda: _rows(pool, code),
            lambda rows: len(rows) == 4 and rows.get(urgent.id, {}).get("status") == "sent",
            what="three sent and one deferred",
        )
    first, second, third = (rows[e.id] for e in ordinary)
    assert first["status"] == second["status"] == "sent"
    assert third["status"] == "pending"
    assert third["deferred_reason"] == "rate_limit"
    assert third["next_attempt_at"] == noon + timedelta(hours=1)
    assert third["attempts"] == 0  # nothing went out for it
    assert third["recipient_sealed"] and mobile not in third["recipient_sealed"]
    assert rows[urgent.id]["urgent"] and rows[urgent.id]["status"] == "sent"
    assert await _copies(pool, code) == 3

    # notify restarts an hour later: the deferred message goes out, once.
    async with running(policy_settings, pool, noon + timedelta(hours=1, seconds=1)):
        rows = await eventually(
            lambda: _rows(pool, code),
            lambda rows: rows[third["event_id"]]["outcome_published_at"] is not None,
            what="the deferred message sent and reported after the restart",
        )
    sent = rows[third["event_id"]]
    assert sent["attempts"] == 1
    assert sent["recipient_sealed"] is None  # the sealed copy is dropped once sent
    assert sent["deferred_reason"] is None
    assert sent["status"] == "sent"
    assert await _copies(pool, code) == 4


async def test_quiet_hours_hold_ordinary_messages_until_morning_across_a_restart(
    policy_settings: NotifySettings,
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
    events,
    mobile: str,
) -> None:
    # No rate limit here: three held messages to one number all go at 08:00.
    policy_settings = policy_settings.model_copy(update={"notify_sms_per_hour": 0})
    night = _day_after_tomorrow_at(23, 30)
    morning = _day_after_tomorrow_at(8) + timedelta(days=1)
    code = events.code()
    ordinary = events.envelope(events.completed(code, mobile=mobile), code)
    urgent = events.envelope(
        events.accepted(
            code,
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
            missing=("seal-specimen",),
            mobile=mobile,
        ),
        code,
    )
    async with running(policy_settings, pool, night) as runtime:
        await publish(producer, runtime.source_topic, urgent)
        await publish(producer, runtime.source_topic, ordinary)
        rows = await eventually(
            lambda: _rows(pool, code),
            lambda rows: len(rows) == 3 and rows[urgent.id]["status"] == "sent",
            what="the urgent message sent and the completion held",
        )
        # Redelivered during the night: still waiting, nothing sent (the marker, behind
        # it in the partition, shows it was processed).
        await publish(producer, runtime.source_topic, ordinary)
        marker = events.envelope(events.withdrawn(code, mobile=mobile), code)
        await publish(producer, runtime.source_topic, marker)
        rows = await eventually(
            lambda: _rows(pool, code),
            lambda rows: marker.id in rows and rows[marker.id]["next_attempt_at"] is not None,
            what="the marker held too",
        )
    held = [row for key, row in rows.items() if key != urgent.id]
    assert {row["template"] for row in held} == {
        "application_completed",
        "rating_invitation",
        "application_withdrawn",
    }
    for row in held:
        assert row["status"] == "pending"
        assert row["deferred_reason"] == "quiet_hours"
        assert row["next_attempt_at"] == morning
    assert await _copies(pool, code) == 1

    # Restarted at 08:00: each held message goes out once.
    async with running(policy_settings, pool, morning):
        rows = await eventually(
            lambda: _rows(pool, code),
            lambda rows: all(row["status"] == "sent" for row in rows.values()),
            what="the held messages sent in the morning",
        )
    assert await _copies(pool, code) == 4
    assert all(row["attempts"] == 1 for row in rows.values())
