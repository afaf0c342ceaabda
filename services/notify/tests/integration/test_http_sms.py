"""The HTTP SMS-gateway provider as `notify_provider=http` wires it, against a real local
gateway stub that deduplicates by Idempotency-Key and can fail on purpose."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

MOBILE = "13812345678"
TOKEN = "gateway-token"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class StubGateway:
    """Answers the scripted statuses in turn, then accepts; a key it accepted before is
    answered with the same message id and `Idempotent-Replayed: true`."""

    script: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, Any], int]] = field(default_factory=list)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → message id

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        payload = json.loads(body)
        key = headers.get("idempotency-key", "")
        extra: list[tuple[bytes, bytes]] = []
        if headers.get("authorization") != f"Bearer {TOKEN}":
            status, answer = 401, {}
        elif key in self.accepted:
            status, answer = 200, {"message_id": self.accepted[key]}
            extra.append((b"idempotent-replayed", b"true"))
        elif self.script:
            status, answer = self.script.pop(0), {"error": "scripted"}
        else:
            self.accepted[key] = f"gw-{uuid.uuid4().hex[:10]}"
            status, answer = 200, {"message_id": self.accepted[key], "segments": 1}
        self.requests.append((headers, payload, status))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


@pytest.fixture
async def gateway(serve) -> AsyncIterator[tuple[StubGateway, str]]:
    stub = StubGateway()
    async with serve(stub) as base_url:
        yield stub, f"{base_url}/v1/sms"


@pytest.fixture
async def http_runtime(
    settings: NotifySettings, pool: asyncpg.Pool, gateway: tuple[StubGateway, str]
) -> AsyncIterator[NotifyRuntime]:
    _, url = gateway
    configured = settings.model_copy(
        update={
            "notify_provider": "http",
            "notify_sms_gateway_url": url,
            "notify_sms_gateway_token": SecretStr(TOKEN),
        }
    )
    started = NotifyRuntime(configured, pool=pool)
    await started.start()
    yield started
    await started.stop()


async def _sms_rows(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE channel = 'sms' AND application_code = $1"
        " ORDER BY created_at",
        code,
    )


async def test_a_gateway_failing_twice_then_accepting_sends_once(
    http_runtime: NotifyRuntime,
    gateway: tuple[StubGateway, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    stub, _ = gateway
    stub.script = [503, 503]
    code = events.code()
    accepted = events.envelope(events.accepted(code), code)
    await publish(producer, http_runtime.source_topic, accepted)

    rows = await eventually(
        lambda: _sms_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the SMS sent through the gateway",
    )
    row = rows[0]
    assert row["attempts"] == 3
    assert row["provider"] == "http-sms"
    assert len(stub.accepted) == 1
    [message_id] = stub.accepted.values()
    assert row["provider_message_id"] == message_id
    statuses = [status for _, _, status in stub.requests]
    assert statuses == [503, 503, 200]
    keys = {headers["idempotency-key"] for headers, _, _ in stub.requests}
    assert keys == {f"{accepted.id}/sms/{row['recipient_hash']}"}
    _, payload, _ = stub.requests[-1]
    assert payload["to"] == MOBILE
    assert code in payload["text"]

    # Redelivered: the ledger settles it without a request to the gateway.
    await publish(producer, http_runtime.source_topic, accepted)
    marker = events.envelope(events.withdrawn(code), code)
    await publish(producer, http_runtime.source_topic, marker)
    await eventually(
        lambda: _sms_rows(pool, code),
        lambda rows: len(rows) == 2 and all(r["status"] == "sent" for r in rows),
        what="the marker sent",
    )
    assert len(stub.requests) == 4
    assert len(stub.accepted) == 2


async def test_a_gateway_refusal_is_permanent(
    http_runtime: NotifyRuntime,
    gateway: tuple[StubGateway, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    stub, _ = gateway
    stub.script = [400]
    code = events.code()
    await publish(producer, http_runtime.source_topic, events.envelope(events.rejected(code), code))
    rows = await eventually(
        lambda: _sms_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
        what="the SMS failed",
    )
    assert rows[0]["attempts"] == 1
    assert rows[0]["last_error"] == "gateway refused the message: HTTP 400"
    assert MOBILE not in rows[0]["last_error"]
    assert [status for _, _, status in stub.requests] == [400]


def test_the_http_provider_needs_a_gateway_url() -> None:
    with pytest.raises(ValueError, match="GATEWAY_URL"):
        NotifySettings(environment="development", notify_provider="http")
