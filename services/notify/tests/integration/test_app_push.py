"""The app-push provider as `notify_push_provider=http` wires it, against a real local
push service that has no idempotency key and can fail on purpose: a push failing twice
then accepted is sent once; a push whose answer is lost is recorded as possibly sent and
not repeated; a refusal is permanent."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from onceonly.events.v1 import notification_pb2
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

MOBILE = "13812345678"
# A scripted status meaning: take the message, then answer only after notify gave up.
LOST = 0

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class StubPushService:
    """Answers the scripted statuses in turn, then accepts. No deduplication: every
    accepted request is a notification on the citizen's phone."""

    script: list[int] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)  # what reached phones

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        payload = json.loads(body)
        status = self.script.pop(0) if self.script else 200
        self.answered.append(status)
        if status in (200, LOST):
            self.shown.append(payload)
        if status == LOST:
            await asyncio.sleep(3)  # longer than notify's timeout
            status = 200
        answer = {"message_id": f"push-{uuid.uuid4().hex[:8]}"} if status == 200 else {}
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def shown_for(self, code: str) -> list[dict[str, Any]]:
        return [p for p in self.shown if p["data"]["application_code"] == code]


@pytest.fixture
async def push_service(serve) -> AsyncIterator[tuple[StubPushService, str]]:
    stub = StubPushService()
    async with serve(stub) as base_url:
        yield stub, f"{base_url}/v1/push"


@pytest.fixture
async def push_runtime(
    settings: NotifySettings, pool: asyncpg.Pool, push_service: tuple[StubPushService, str]
) -> AsyncIterator[NotifyRuntime]:
    _, url = push_service
    configured = settings.model_copy(
        update={
            "notify_push_provider": "http",
            "notify_push_url": url,
            "notify_push_timeout_seconds": 1.0,
        }
    )
    started = NotifyRuntime(configured, pool=pool)
    await started.start()
    yield started
    await started.stop()


async def _app_rows(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE channel = 'app' AND application_code = $1"
        " ORDER BY created_at",
        code,
    )


async def test_a_push_failing_twice_then_accepted_is_shown_once(
    push_runtime: NotifyRuntime,
    push_service: tuple[StubPushService, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    stub, _ = push_service
    stub.script = [503, 503]
    code = events.code()
    accepted = events.envelope(events.accepted(code, channels=("app",), language="en"), code)
    await publish(producer, push_runtime.source_topic, accepted)
    rows = await eventually(
        lambda: _app_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
        what="the push sent",
    )
    assert rows[0]["attempts"] == 3
    assert rows[0]["provider"] == "http-push"
    assert rows[0]["segments"] == 0  # not billed per SMS segment
    [shown] = stub.shown_for(code)
    assert shown["to"] == MOBILE
    assert shown["body"].startswith(f"[Gov Services] Your application {code}")
    assert stub.answered[:3] == [503, 503, 200]
    # No SMS: the applicant chose app push only.
    assert not await pool.fetch(
        "SELECT 1 FROM notify.deliveries WHERE channel = 'sms' AND application_code = $1", code
    )

    # Redelivered: nothing new on the phone.
    await publish(producer, push_runtime.source_topic, accepted)
    marker = events.envelope(events.withdrawn(code, channels=("app",)), code)
    await publish(producer, push_runtime.source_topic, marker)
    await eventually(
        lambda: _app_rows(pool, code),
        lambda rows: len(rows) == 2 and all(r["status"] == "sent" for r in rows),
        what="the marker pushed",
    )
    assert len(stub.shown_for(code)) == 2


async def test_a_lost_answer_is_possibly_sent_and_never_pushed_again(
    push_runtime: NotifyRuntime,
    push_service: tuple[StubPushService, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
    reader,
) -> None:
    stub, _ = push_service
    stub.script = [LOST]
    code = events.code()
    decided = events.envelope(events.decided(code, channels=("app",)), code)
    await publish(producer, push_runtime.source_topic, decided)
    rows = await eventually(
        lambda: _app_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "possibly_sent",
        what="the push recorded as possibly sent",
    )
    assert rows[0]["attempts"] == 1
    assert len(stub.shown_for(code)) == 1  # it did reach the phone; no second copy

    async with reader(push_runtime.outcomes_topic) as outcomes:
        records = await outcomes.until(
            lambda rs: any(Envelope.from_kafka(r.headers, r.value).subject == code for r in rs),
            what="the outcome event",
        )
    [outcome] = [
        Envelope.from_kafka(r.headers, r.value).message()
        for r in records
        if Envelope.from_kafka(r.headers, r.value).subject == code
    ]
    assert outcome.status == notification_pb2.DELIVERY_STATUS_POSSIBLY_SENT
    assert outcome.channel == "app"
    assert outcome.recipient_masked == "1381234****"


async def test_an_account_without_the_app_is_a_permanent_failure(
    push_runtime: NotifyRuntime,
    push_service: tuple[StubPushService, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    stub, _ = push_service
    stub.script = [404]
    code = events.code()
    await publish(
        producer,
        push_runtime.source_topic,
        events.envelope(events.rejected(code, channels=("app", "sms")), code),
    )
    rows = await eventually(
        lambda: pool.fetch(
            "SELECT channel, status, attempts, last_error FROM notify.deliveries"
            " WHERE application_code = $1 ORDER BY channel",
            code,
        ),
        lambda rows: len(rows) == 2 and all(r["status"] != "pending" for r in rows),
        what="both channels settled",
    )
    by_channel = {row["channel"]: row for row in rows}
    assert by_channel["app"]["status"] == "failed"
    assert by_channel["app"]["attempts"] == 1
    assert by_channel["app"]["last_error"] == "push service refused the message: HTTP 404"
    assert by_channel["sms"]["status"] == "sent"  # the other channel is unaffected
    assert stub.answered.count(404) == 1
