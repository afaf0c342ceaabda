"""Integrators read their own webhook delivery log and replay their own deliveries,
authenticated by the API key intake issued them (intake's real key table, in the same
database); another integrator's deliveries are invisible to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from onceonly.events.v1 import application_pb2
from onceonly.notify.api import create_app
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.notify.webhook_delivery import register_webhook
from onceonly.notify.webhook_store import WebhookStore
from onceonly.notify.webhook_urls import parse_webhook_url
from onceonly.platform.integrator_keys import PostgresIntegratorKeys
from onceonly.platform.kafka import publish
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Receiver:
    """Both integrators' endpoint: takes every POST, remembers the event ids."""

    event_ids: list[str] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        while (await receive()).get("more_body"):
            pass  # the body is not needed: the event id header says which event
        self.event_ids.append(headers.get("x-onceonly-event-id", ""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
async def receiver(serve) -> AsyncIterator[tuple[Receiver, str]]:
    stub = Receiver()
    async with serve(stub) as base_url:
        yield stub, f"{base_url}/hooks"


@pytest.fixture
async def app(
    local_receivers_settings: NotifySettings, pool: asyncpg.Pool
) -> AsyncIterator[FastAPI]:
    fast = local_receivers_settings.model_copy(
        update={"notify_webhook_poll_seconds": 0.05, "notify_webhook_retry_base_seconds": 0.1}
    )
    created = create_app(fast, pool=pool)
    async with created.router.lifespan_context(created):
        yield created


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as created:
        yield created


@pytest.fixture
async def two_integrators(
    pool: asyncpg.Pool,
    receiver: tuple[Receiver, str],
    local_receivers_settings: NotifySettings,
    intake_integrator,
) -> tuple[Any, Any]:
    _, given = receiver
    url = parse_webhook_url(given, local_receivers_settings.webhook_destinations)
    sealer = PiiSealer(local_receivers_settings.pii_keys.get_secret_value())
    made = []
    for _ in range(2):
        integrator = await intake_integrator()
        await register_webhook(WebhookStore(pool), sealer, integrator.id, url)
        made.append(integrator)
    return made[0], made[1]


async def _submit_and_accept(
    producer: AIOKafkaProducer, runtime: NotifyRuntime, events, integrator: Any
) -> tuple[str, str]:
    code = events.code()
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code, matter_code="business-startup", integrator_id=integrator.id
    )
    await publish(producer, runtime.submissions_topic, events.envelope(submitted, code))
    accepted = events.envelope(events.accepted(code), code)
    await publish(producer, runtime.source_topic, accepted)
    return code, accepted.id


async def test_an_integrator_sees_and_replays_only_its_own_deliveries(
    app: FastAPI,
    client: httpx.AsyncClient,
    two_integrators: tuple[Any, Any],
    receiver: tuple[Receiver, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    mine, theirs = two_integrators
    stub, _ = receiver
    runtime: NotifyRuntime = app.state.runtime
    my_code, my_event = await _submit_and_accept(producer, runtime, events, mine)
    their_code, their_event = await _submit_and_accept(producer, runtime, events, theirs)
    await eventually(
        lambda: pool.fetch(
            "SELECT status FROM notify.deliveries WHERE channel = 'webhook'"
            " AND application_code = ANY($1::text[]) AND status = 'sent'",
            [my_code, their_code],
        ),
        lambda rows: len(rows) == 2,
        what="both webhooks delivered",
    )

    response = await client.get("/v1/integrator/webhooks/deliveries", headers=mine.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["integrator_id"] == mine.id
    [delivery] = body["deliveries"]
    assert delivery["application_code"] == my_code
    assert delivery["event_id"] == my_event
    assert delivery["event_type"] == "ApplicationAccepted"
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 1
    assert '"status":"accepted"' in delivery["payload"]

    # Filtering by another integrator's application finds nothing.
    response = await client.get(
        "/v1/integrator/webhooks/deliveries",
        params={"application_code": their_code},
        headers=mine.auth,
    )
    assert response.json()["deliveries"] == []
    response = await client.get(
        "/v1/integrator/webhooks/deliveries", params={"status": "failed"}, headers=mine.auth
    )
    assert response.json()["deliveries"] == []

    # Replaying another integrator's delivery: not found, and nothing is sent.
    [their_delivery] = (
        await client.get("/v1/integrator/webhooks/deliveries", headers=theirs.auth)
    ).json()["deliveries"]
    response = await client.post(
        f"/v1/integrator/webhooks/deliveries/{their_delivery['id']}/replay", headers=mine.auth
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"

    # Replaying its own: sent again, with a fresh retry window.
    response = await client.post(
        f"/v1/integrator/webhooks/deliveries/{delivery['id']}/replay", headers=mine.auth
    )
    assert response.status_code == 202
    assert response.json()["replays"] == 1
    await eventually(
        lambda: pool.fetchrow(
            "SELECT status, attempts FROM notify.deliveries WHERE id = $1",
            uuid.UUID(delivery["id"]),
        ),
        lambda row: row["status"] == "sent" and row["attempts"] == 2,
        what="the replay delivered",
    )
    assert stub.event_ids.count(my_event) == 2
    assert stub.event_ids.count(their_event) == 1


async def test_integrator_endpoints_need_a_valid_live_key(
    client: httpx.AsyncClient, two_integrators: tuple[Any, Any], pool
) -> None:
    mine, _ = two_integrators
    path = "/v1/integrator/webhooks/deliveries"
    wrong_secret = mine.api_key[:-4] + ("AAAA" if not mine.api_key.endswith("AAAA") else "BBBB")
    for headers in (
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer {wrong_secret}"},
        {"Authorization": f"Bearer oo_{'0' * 16}_{'x' * 43}"},  # unknown key id
        {"Authorization": mine.api_key},  # no scheme
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get(path, headers=mine.auth)).status_code == 200

    await PostgresIntegratorKeys(pool).revoke(mine.key_id)
    assert (await client.get(path, headers=mine.auth)).status_code == 401
    replay = await client.post(f"{path}/{uuid.uuid4()}/replay", headers=mine.auth)
    assert replay.status_code == 401
    # Malformed input is a problem, not an error.
    _, other = two_integrators
    response = await client.get(path, params={"limit": 0}, headers=other.auth)
    assert response.status_code == 422
