"""Integrator webhooks end to end: real Kafka, real Postgres, and a real HTTP server on
127.0.0.1 standing in for the integrator, which checks every signature with the
reference verifier below and can fail on purpose."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from typer.testing import CliRunner

from onceonly.events.v1 import application_pb2, notification_pb2
from onceonly.notify.api import create_app
from onceonly.notify.cli import app as cli_app
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.notify.webhook_delivery import register_webhook, secret_context
from onceonly.notify.webhook_store import WebhookStore
from onceonly.notify.webhook_urls import parse_webhook_url
from onceonly.platform.auth import DEPARTMENT_ROLES
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

# A scripted "status" meaning: answer only after the client has timed out.
HANG = 0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def verify_signature(
    secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300
) -> bool:
    """The reference verifier an integrator would write from the documentation:
    `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, within a replay window."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), given)


@dataclass
class Received:
    key_id: str
    body: bytes
    verified: bool
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class StubIntegrator:
    """An ASGI app: answers POSTs with the scripted statuses in turn, then 200; a bad
    signature gets 401 (so a signing bug fails the tests as a permanent failure)."""

    secrets: dict[str, str] = field(default_factory=dict)  # key id → secret
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key_id = headers.get("x-onceonly-key-id", "")
        secret = self.secrets.get(key_id)
        verified = secret is not None and verify_signature(
            secret, headers.get("x-onceonly-signature", ""), body, now=time.time()
        )
        status = (self.script.pop(0) if self.script else 200) if verified else 401
        self.received.append(Received(key_id, body, verified, status))
        if status == HANG:
            await asyncio.sleep(3)  # longer than notify's timeout: it gives up waiting
            status = 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def for_event(self, event_id: str) -> list[Received]:
        return [r for r in self.received if r.verified and r.json["event_id"] == event_id]


@pytest.fixture
async def stub(serve) -> AsyncIterator[tuple[StubIntegrator, str]]:
    integrator = StubIntegrator()
    async with serve(integrator) as base_url:
        yield integrator, f"{base_url}/hooks/onceonly"


@pytest.fixture
def fast_settings(local_receivers_settings: NotifySettings) -> NotifySettings:
    """Retries in tenths of a second rather than minutes; the stub on 127.0.0.1 allowed."""
    return local_receivers_settings.model_copy(
        update={
            "notify_webhook_poll_seconds": 0.05,
            "notify_webhook_retry_base_seconds": 0.1,
            "notify_webhook_retry_max_seconds": 0.4,
            "notify_webhook_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
async def app(fast_settings: NotifySettings, pool: asyncpg.Pool) -> AsyncIterator[FastAPI]:
    created = create_app(fast_settings, pool=pool)
    async with created.router.lifespan_context(created):
        yield created


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as created:
        yield created


@pytest.fixture
async def integrator(
    stub: tuple[StubIntegrator, str], pool: asyncpg.Pool, fast_settings: NotifySettings
) -> str:
    """A fresh integrator whose webhook points at the stub, secret shared with it."""
    server, url = stub
    integrator_id = f"integrator-{uuid.uuid4().hex[:8]}"
    sealer = PiiSealer(fast_settings.pii_keys.get_secret_value())
    accepted = parse_webhook_url(url, fast_settings.webhook_destinations)
    key_id, secret = await register_webhook(WebhookStore(pool), sealer, integrator_id, accepted)
    server.secrets[key_id] = secret
    return integrator_id


def _submitted(events, code: str, integrator_id: str):
    message = application_pb2.ApplicationSubmitted(
        application_code=code, matter_code="business-startup", integrator_id=integrator_id
    )
    return events.envelope(message, code)


async def _webhook_rows(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE channel = 'webhook' AND application_code = $1"
        " ORDER BY created_at",
        code,
    )


def _token(settings: NotifySettings, *roles: str) -> dict[str, str]:
    """A notify token: of the operations centre, or of tax for a department's roles (a
    department of the catalogue, or the token is refused outright)."""
    department = "tax" if set(roles) & set(DEPARTMENT_ROLES) else "operations"
    token = settings.staff_tokens().issue(staff_id="ops-1", department_code=department, roles=roles)
    return {"Authorization": f"Bearer {token}"}


async def test_fails_twice_then_delivered_once_signed_even_before_the_submission(
    app: FastAPI,
    stub: tuple[StubIntegrator, str],
    integrator: str,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
    client: httpx.AsyncClient,
    fast_settings: NotifySettings,
) -> None:
    server, _ = stub
    server.script = [503, 503]
    runtime: NotifyRuntime = app.state.runtime
    code = events.code()
    accepted = events.envelope(events.accepted(code), code)

    # The approval event first: its application is not known yet, so it waits.
    await publish(producer, runtime.source_topic, accepted)
    await eventually(
        lambda: pool.fetch("SELECT 1 FROM notify.webhook_backlog WHERE event_id = $1", accepted.id),
        what="the event kept in the backlog",
    )
    await publish(producer, runtime.submissions_topic, _submitted(events, code, integrator))

    rows = await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the webhook delivered",
    )
    row = rows[0]
    assert row["attempts"] == 3
    assert row["recipient_hash"] == integrator
    assert row["http_status"] == 200
    assert row["event_id"] == accepted.id

    received = server.for_event(accepted.id)
    assert [r.answered for r in received] == [503, 503, 200]  # delivered once
    assert all(r.verified for r in server.received)
    assert len({r.body for r in received}) == 1  # every attempt sends the same bytes
    assert received[0].json == {
        "application_code": code,
        "event_type": "ApplicationAccepted",
        "event_id": accepted.id,
        "status": "accepted",
        "occurred_at": accepted.time.isoformat(),
    }
    assert not await pool.fetch(
        "SELECT 1 FROM notify.webhook_backlog WHERE event_id = $1", accepted.id
    )

    # The delivery log, and a replay on request.
    ops = _token(fast_settings, "operations")
    response = await client.get(
        "/v1/webhooks/deliveries", params={"application_code": code}, headers=ops
    )
    assert response.status_code == 200
    [logged] = response.json()["deliveries"]
    assert logged["status"] == "sent"
    assert logged["attempts"] == 3
    assert logged["integrator_id"] == integrator
    response = await client.get(
        "/v1/webhooks/deliveries",
        params={"application_code": code},
        headers=_token(fast_settings, "reviewer"),
    )
    assert response.status_code == 403

    response = await client.post(f"/v1/webhooks/deliveries/{logged['id']}/replay", headers=ops)
    assert response.status_code == 202
    assert response.json()["replays"] == 1
    await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: rows[0]["status"] == "sent" and rows[0]["attempts"] == 4,
        what="the replay delivered",
    )
    assert [r.answered for r in server.for_event(accepted.id)] == [503, 503, 200, 200]
    response = await client.post(f"/v1/webhooks/deliveries/{uuid.uuid4()}/replay", headers=ops)
    assert response.status_code == 404
    # 行政区划: operations staff of a county see and replay only what is decided there;
    # another application looks as unknown as one never submitted.
    county = fast_settings.staff_tokens().issue(
        staff_id="ops-2", department_code="operations", roles=("operations",), region="330106"
    )
    elsewhere = {"Authorization": f"Bearer {county}"}
    response = await client.get(
        "/v1/webhooks/deliveries", params={"application_code": code}, headers=elsewhere
    )
    assert response.status_code == 200 and response.json()["deliveries"] == []
    response = await client.post(
        f"/v1/webhooks/deliveries/{logged['id']}/replay", headers=elsewhere
    )
    assert response.status_code == 404
    assert (await _webhook_rows(pool, code))[0]["attempts"] == 4


async def test_a_400_fails_the_delivery_without_retrying(
    app: FastAPI,
    stub: tuple[StubIntegrator, str],
    integrator: str,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
    reader,
) -> None:
    server, _ = stub
    server.script = [400]
    runtime: NotifyRuntime = app.state.runtime
    code = events.code()
    await publish(producer, runtime.submissions_topic, _submitted(events, code, integrator))
    rejected = events.envelope(events.rejected(code), code)
    await publish(producer, runtime.source_topic, rejected)

    rows = await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
        what="the webhook failed",
    )
    assert rows[0]["attempts"] == 1
    assert rows[0]["http_status"] == 400
    assert rows[0]["next_attempt_at"] is None
    # A later event of the same application is delivered; the failed one never retried.
    withdrawn = events.envelope(events.withdrawn(code), code)
    await publish(producer, runtime.source_topic, withdrawn)
    await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 2 and rows[1]["status"] == "sent",
        what="the next webhook delivered",
    )
    assert [r.answered for r in server.for_event(rejected.id)] == [400]

    # Both outcomes reach the application's timeline, as NotificationSent events.
    def webhook_outcomes(records: list[Any]) -> dict[str, Any]:
        found = {}
        for record in records:
            envelope = Envelope.from_kafka(record.headers, record.value)
            message = envelope.message()
            if envelope.subject == code and message.channel == "webhook":
                found[message.cause_event_id] = message
        return found

    async with reader(runtime.outcomes_topic) as outcomes:
        records = await outcomes.until(
            lambda rs: len(webhook_outcomes(rs)) == 2, what="two webhook outcomes"
        )
    found = webhook_outcomes(records)
    assert found[rejected.id].status == notification_pb2.DELIVERY_STATUS_FAILED
    assert found[withdrawn.id].status == notification_pb2.DELIVERY_STATUS_SENT
    assert found[withdrawn.id].recipient_masked == integrator
    assert found[withdrawn.id].provider_message_id == "200"


async def test_a_redelivered_event_posts_nothing_new(
    app: FastAPI,
    stub: tuple[StubIntegrator, str],
    integrator: str,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    server, _ = stub
    runtime: NotifyRuntime = app.state.runtime
    code = events.code()
    await publish(producer, runtime.submissions_topic, _submitted(events, code, integrator))
    completed = events.envelope(events.completed(code), code)
    await publish(producer, runtime.source_topic, completed)
    await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the first webhook delivered",
    )
    # The same event twice more, then a marker on the same key (same partition): once
    # the marker is delivered, the duplicates have been handled.
    await publish(producer, runtime.source_topic, completed)
    await publish(producer, runtime.source_topic, completed)
    marker = events.envelope(events.decided(code), code)
    await publish(producer, runtime.source_topic, marker)
    await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 2 and all(row["status"] == "sent" for row in rows),
        what="the marker delivered",
    )
    assert len(server.for_event(completed.id)) == 1
    assert len(server.for_event(marker.id)) == 1
    assert server.for_event(marker.id)[0].json["status"] == "task_approved"


async def test_the_cli_registers_a_webhook_with_a_sealed_secret(
    database_url: str, pool: asyncpg.Pool, fast_settings: NotifySettings
) -> None:
    integrator_id = f"integrator-{uuid.uuid4().hex[:8]}"
    url = "https://integrator.example/hooks"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["webhook", "set", integrator_id, url],
        env={"ONCEONLY_DATABASE_URL": database_url, "ONCEONLY_ENVIRONMENT": "development"},
    )
    assert result.exit_code == 0, result.output
    printed = dict(line.split(": ", 1) for line in result.output.splitlines())
    registration = await WebhookStore(pool).registration(integrator_id)
    assert registration is not None
    assert registration.url == url
    assert registration.key_id == printed["key id"]
    assert printed["secret"] not in registration.secret_sealed
    sealer = PiiSealer(fast_settings.pii_keys.get_secret_value())
    opened = sealer.open(registration.secret_sealed, context=secret_context(integrator_id))
    assert opened == printed["secret"]

    bad = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["webhook", "set", integrator_id, "ftp://nope"],
        env={"ONCEONLY_DATABASE_URL": database_url, "ONCEONLY_ENVIRONMENT": "development"},
    )
    assert bad.exit_code == 2


async def test_a_delivery_failing_past_the_retry_window_is_given_up(
    stub: tuple[StubIntegrator, str],
    integrator: str,
    fast_settings: NotifySettings,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    server, _ = stub
    server.script = [503] * 100
    # A window of one second instead of 24 hours.
    settings = fast_settings.model_copy(update={"notify_webhook_give_up_hours": 1 / 3600})
    runtime = NotifyRuntime(settings, pool=pool)
    await runtime.start()
    try:
        code = events.code()
        await publish(producer, runtime.submissions_topic, _submitted(events, code, integrator))
        withdrawn = events.envelope(events.withdrawn(code), code)
        await publish(producer, runtime.source_topic, withdrawn)
        rows = await eventually(
            lambda: _webhook_rows(pool, code),
            lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
            what="the webhook given up",
        )
    finally:
        await runtime.stop()
    row = rows[0]
    assert row["last_error"].startswith("gave up after the retry window")
    assert row["http_status"] == 503
    assert row["attempts"] >= 2  # retried while the window lasted
    assert row["attempts"] == len(server.for_event(withdrawn.id))
    assert row["completed_at"] <= row["give_up_at"] + timedelta(seconds=1)


async def test_a_timeout_is_retried(
    stub: tuple[StubIntegrator, str],
    integrator: str,
    fast_settings: NotifySettings,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    server, _ = stub
    server.script = [HANG]
    settings = fast_settings.model_copy(update={"notify_webhook_timeout_seconds": 0.5})
    runtime = NotifyRuntime(settings, pool=pool)
    await runtime.start()
    try:
        code = events.code()
        await publish(producer, runtime.submissions_topic, _submitted(events, code, integrator))
        decided = events.envelope(events.decided(code), code)
        await publish(producer, runtime.source_topic, decided)
        rows = await eventually(
            lambda: _webhook_rows(pool, code),
            lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
            what="the webhook delivered after a timeout",
        )
    finally:
        await runtime.stop()
    assert rows[0]["attempts"] == 2
    assert [r.answered for r in server.for_event(decided.id)] == [HANG, 200]
