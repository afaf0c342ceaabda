"""The relay: woken by the API's NOTIFY after a commit, survives Kafka being away
without losing a row, and heartbeats for /health with its backlog."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.intake.outbox import NOTIFY_CHANNEL
from onceonly.intake.relay import RELAY_COMPONENT, OutboxRelay
from onceonly.intake.relay_wake import RelayWake
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.heartbeat import beat, run_heartbeat
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def published_at(pool: asyncpg.Pool, code: str) -> Any:
    return await pool.fetchval(
        "SELECT published_at FROM intake.outbox WHERE message_key = $1", code
    )


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return response.json()["application_code"]


async def test_a_notify_wakes_the_relay_long_before_its_next_poll(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    reader: Any,
) -> None:
    relay = OutboxRelay(
        pool,
        dsn=settings.database_url,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        poll_seconds=60.0,  # only a NOTIFY can make it publish within the test
    )
    async with running(relay):
        await eventually(lambda: asyncio.sleep(0, relay.listening), bool, what="LISTEN")
        # Let the first (empty) round finish, so the relay is waiting for a wake-up.
        await eventually(lambda: asyncio.sleep(0, relay.idle), bool, what="an idle relay")
        code = await submit(client, integrator, person_application)
        await eventually(
            lambda: published_at(pool, code), lambda at: at is not None, within=10, what="publish"
        )
    async with reader:
        records = await reader.until(lambda found: len(found) >= 1, what="the message")
    assert [record.key for record in records] == [code.encode()]


async def test_the_wake_up_comes_after_each_burst_of_commits_one_per_interval(
    pool: asyncpg.Pool, database_url: str
) -> None:
    """A burst of commits is announced by one NOTIFY (not one each, which would serialise
    their commits), and a commit during or after it by a later one: none is left for
    the relay's poll."""
    heard: list[float] = []
    listener = await asyncpg.connect(database_url)
    await listener.add_listener(NOTIFY_CHANNEL, lambda *_: heard.append(time.monotonic()))
    wake = RelayWake(pool, interval=0.2)
    task = asyncio.create_task(wake.run())
    try:
        for _ in range(50):
            wake.written()
        await eventually(lambda: asyncio.sleep(0, len(heard)), lambda n: n >= 1, what="a NOTIFY")
        wake.written()  # within the interval after the first: announced after it
        await eventually(lambda: asyncio.sleep(0, len(heard)), lambda n: n >= 2, what="another")
        await asyncio.sleep(0.5)  # nothing more was written: nothing more is sent
        assert len(heard) == 2
        assert heard[1] - heard[0] >= 0.2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await listener.close()
    assert wake.sent == 2


async def test_nothing_is_lost_while_kafka_is_away(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    reader: Any,
    settings: IntakeSettings,
) -> None:
    good_bootstrap = relay.bootstrap
    relay.bootstrap = "127.0.0.1:1"  # nothing listens there: Kafka is "down"
    async with running(relay):
        codes = [await submit(client, integrator, person_application) for _ in range(3)]
        await eventually(
            lambda: asyncio.sleep(0, relay.failures), lambda n: n >= 2, what="failed attempts"
        )
        # Accepted while Kafka is away, and still waiting in the outbox.
        for code in codes:
            assert await published_at(pool, code) is None
        assert relay.heartbeat_detail()["kafka"] == "disconnected"
        assert relay.heartbeat_detail()["last_error"]

        relay.bootstrap = good_bootstrap  # Kafka is back
        for code in codes:
            await eventually(
                lambda code=code: published_at(pool, code),
                lambda at: at is not None,
                what=f"{code} published",
            )
    async with reader:
        records = await reader.until(lambda found: len(found) >= 3, what="three messages")
    assert sorted(record.key.decode() for record in records) == sorted(codes)
    assert relay.published == 3


async def test_the_relay_publishes_in_batches_in_id_order(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    reader: Any,
) -> None:
    codes = [await submit(client, integrator, person_application) for _ in range(5)]
    relay = OutboxRelay(
        pool,
        dsn=settings.database_url,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        batch_size=2,
    )
    try:
        assert [await relay.publish_pending() for _ in range(4)] == [2, 2, 1, 0]
    finally:
        await relay.close()
    async with reader:
        records = await reader.until(lambda found: len(found) >= 5, what="five messages")
    by_partition: dict[int, list[str]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(record.key.decode())
    for keys in by_partition.values():
        assert keys == [code for code in codes if code in keys]


async def test_another_deployments_rows_are_left_alone(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
) -> None:
    code = await submit(client, integrator, person_application)
    stranger = OutboxRelay(
        pool,
        dsn=settings.database_url,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix + "-other",
    )
    try:
        assert await stranger.publish_pending() == 0
    finally:
        await stranger.close()
    assert await published_at(pool, code) is None


async def test_health_needs_a_fresh_relay_heartbeat(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    relay: OutboxRelay,
    settings: IntakeSettings,
) -> None:
    await submit(client, integrator, person_application)
    beating = asyncio.create_task(
        run_heartbeat(
            pool, RELAY_COMPONENT, every=settings.heartbeat_seconds, detail=relay.heartbeat_detail
        )
    )
    measuring = asyncio.create_task(relay.measure_backlog(0.1))
    try:
        await eventually(lambda: asyncio.sleep(0, relay.backlog), lambda n: n >= 1, what="backlog")
        healthy = await eventually(
            lambda: client.get("/health"), lambda r: r.status_code == 200, what="healthy"
        )
        assert healthy.json()["status"] == "ok"
        await eventually(
            lambda: pool.fetchval(
                "SELECT detail FROM platform.instance_heartbeats WHERE component = $1"
                " ORDER BY beat_at DESC LIMIT 1",
                RELAY_COMPONENT,
            ),
            lambda detail: json.loads(detail)["backlog"] >= 1,
            what="backlog in the heartbeat",
        )
    finally:
        for task in (beating, measuring):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    await pool.execute(
        "UPDATE platform.instance_heartbeats SET beat_at = now() - interval '1 hour'"
        " WHERE component = $1",
        RELAY_COMPONENT,
    )
    stale = await client.get("/health")
    assert stale.status_code == 503
    assert RELAY_COMPONENT in stale.json()["problems"]
    # The API itself still takes submissions (into the outbox): it stays ready.
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.json()
    await beat(pool, RELAY_COMPONENT)  # leave it fresh for whoever checks next


async def test_the_backlog_is_a_metric(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    await submit(client, integrator, person_application)

    def backlog(response: httpx.Response) -> float:
        for line in response.text.splitlines():
            if line.startswith("onceonly_intake_outbox_backlog "):
                return float(line.split()[1])
        return -1.0

    response = await eventually(
        lambda: client.get("/metrics"), lambda r: backlog(r) >= 1, what="the backlog metric"
    )
    assert (
        'onceonly_http_request_duration_seconds_count{method="POST",route="/v1/applications",'
        'service="intake",status="201"}'
    ) in response.text


async def test_a_connection_broken_mid_operation_is_waited_out(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    relay: OutboxRelay,
) -> None:
    """PostgreSQL killed under load once left the relay a connection in the middle of an
    operation: asyncpg's InternalClientError, which is neither a PostgresError nor an
    InterfaceError, ended the relay (fault injection with Temporal on PostgreSQL,
    2026-12-05). It is database trouble like the others: back off, try again."""
    original = relay.publish_pending
    broken = 0

    async def first_broken() -> int:
        nonlocal broken
        if broken < 2:
            broken += 1
            raise asyncpg.InternalClientError("cannot switch to state 15; another operation")
        return await original()

    relay.publish_pending = first_broken  # type: ignore[method-assign]
    async with running(relay):
        code = await submit(client, integrator, person_application)
        await eventually(
            lambda: published_at(pool, code), lambda at: at is not None, what="published"
        )
    assert broken == 2 and relay.failures >= 2
