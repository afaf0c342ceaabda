"""The real `onceonly-notify run` process, killed with SIGKILL in the middle of a batch
and started again: every message of the batch goes out exactly once in effect (the SMS
gateway stub, which deduplicates by Idempotency-Key as the provider contract requires,
takes each key once), and every delivery is reported (no gap)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import ensure_topics, publish
from onceonly.platform.testing import TopicReader, eventually, free_port, unique_prefix
from onceonly.platform.topics import Stream, dead_letter_topic, topic_name

pytestmark = pytest.mark.integration

APPLICATIONS = 12
DEADLINE = 120.0  # a killed consumer's group membership lasts until its session times out

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class SlowGateway:
    """Takes each message (by key) once, then answers after a pause: slow enough that a
    kill lands mid-batch, and sometimes between the gateway taking a message and notify
    hearing of it (a send in doubt)."""

    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key → text
    taken: list[str] = field(default_factory=list)  # keys, once per new message
    replays: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers["idempotency-key"]
        extra: list[tuple[bytes, bytes]] = []
        if key in self.accepted:
            self.replays += 1
            extra.append((b"idempotent-replayed", b"true"))
        else:
            self.accepted[key] = json.loads(body)["text"]
            self.taken.append(key)
        await asyncio.sleep(0.15)
        await send({"type": "http.response.start", "status": 200, "headers": extra})
        await send({"type": "http.response.body", "body": json.dumps({"message_id": key}).encode()})


@pytest.fixture
async def gateway(serve) -> AsyncIterator[tuple[SlowGateway, str]]:
    stub = SlowGateway()
    async with serve(stub) as base_url:
        yield stub, f"{base_url}/v1/sms"


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def start_notify(
    prefix: str,
    database_url: str,
    kafka_bootstrap: str,
    gateway: tuple[SlowGateway, str],
    tmp_path: Path,
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """Starts `onceonly-notify run` (as many times as asked); stops what is still running."""
    _, url = gateway
    env = {
        **os.environ,
        "ONCEONLY_ENVIRONMENT": "development",
        "ONCEONLY_TOPIC_PREFIX": prefix,
        "ONCEONLY_NOTIFY_CONSUMER_GROUP": f"{prefix}-notify",
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ONCEONLY_NOTIFY_PORT": str(free_port()),
        "ONCEONLY_NOTIFY_PROVIDER": "http",
        "ONCEONLY_NOTIFY_SMS_GATEWAY_URL": url,
        "ONCEONLY_NOTIFY_QUIET_HOURS": "",
        "ONCEONLY_NOTIFY_SMS_PER_HOUR": "0",
        "PYTHONUNBUFFERED": "1",
    }
    script = Path(sys.executable).parent / "onceonly-notify"
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([str(script), "run"], env=env, stdout=log, stderr=log)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@contextmanager
def _killed(process: subprocess.Popen[bytes]) -> Iterator[None]:
    yield
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


async def _sms_rows(pool: asyncpg.Pool, codes: list[str]) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE channel = 'sms'"
        " AND application_code = ANY($1::text[])",
        codes,
    )


async def test_a_notify_killed_mid_batch_and_restarted_sends_each_message_once(
    start_notify,
    prefix: str,
    gateway: tuple[SlowGateway, str],
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    kafka_bootstrap: str,
    events,
) -> None:
    stub, _ = gateway
    source = topic_name(prefix, Stream.APPROVAL_EVENTS)
    outcomes_topic = topic_name(prefix, Stream.NOTIFICATION_OUTCOMES)
    await ensure_topics(
        kafka_bootstrap,
        [
            *(topic_name(prefix, stream) for stream in Stream),
            dead_letter_topic(prefix, "notify"),
        ],
    )
    # The batch waits in the topic before notify starts: three messages per application.
    codes = [events.code() for _ in range(APPLICATIONS)]
    batch: list[Envelope] = []
    for code in codes:
        batch += [
            events.envelope(events.accepted(code), code),
            events.envelope(events.decided(code, language="en"), code),
            events.envelope(events.withdrawn(code), code),
        ]
    for envelope in batch:
        await publish(producer, source, envelope)
    total = len(batch)

    first = start_notify("first")
    with _killed(first):
        rows = await eventually(
            lambda: _sms_rows(pool, codes),
            lambda rows: sum(r["status"] == "sent" for r in rows) >= 5,
            within=DEADLINE,
            what="part of the batch sent",
        )
    sent_before_kill = sum(r["status"] == "sent" for r in rows)
    assert first.returncode == -signal.SIGKILL
    assert sent_before_kill < total, "the kill must land mid-batch"

    start_notify("second")
    rows = await eventually(
        lambda: _sms_rows(pool, codes),
        lambda rows: (
            len(rows) == total
            and all(r["status"] == "sent" and r["outcome_published_at"] for r in rows)
        ),
        within=DEADLINE,
        what="the whole batch sent and reported after the restart",
    )

    # No duplicate: one ledger row per event, each taken once by the gateway.
    assert {row["event_id"] for row in rows} == {envelope.id for envelope in batch}
    ledger_keys = {f"{r['event_id']}/sms/{r['recipient_hash']}" for r in rows}
    mine = [key for key in stub.taken if key in ledger_keys]
    assert len(mine) == total
    assert set(mine) == ledger_keys
    # No gap: every delivery's NotificationSent is on the outcomes topic.
    async with TopicReader(kafka_bootstrap, outcomes_topic) as reader:
        records = await reader.until(
            lambda found: len(_outcome_ids(found, codes)) >= total,
            within=DEADLINE,
            what="an outcome per delivery",
        )
    assert len(_outcome_ids(records, codes)) == total
    print(
        f"sent before the kill: {sent_before_kill}/{total};"
        f" resends answered as replays: {stub.replays}"
    )


def _outcome_ids(records: list[Any], codes: list[str]) -> set[str]:
    found = set()
    for record in records:
        envelope = Envelope.from_kafka(record.headers, record.value)
        if envelope.subject in codes:
            found.add(envelope.id)
    return found
