"""Test support for the services' integration and end-to-end tests.

Where the test infrastructure is (the database and Kafka of deploy/local unless the
environment says otherwise), a migrated pool on the test database, unique names so that
tests never see each other's messages, polling with a deadline instead of sleeping, and
reading a topic.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from onceonly.platform.db import create_pool, drop_database, prepare_database
from onceonly.platform.kafka import ensure_topics

T = TypeVar("T")

DEFAULT_TEST_DATABASE_URL = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test"
DEFAULT_TEST_KAFKA_BOOTSTRAP = "127.0.0.1:9092"


def test_database_url() -> str:
    """The integration tests' database: ONCEONLY_TEST_DATABASE_URL, else deploy/local's."""
    return os.environ.get("ONCEONLY_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def test_kafka_bootstrap() -> str:
    """ONCEONLY_TEST_KAFKA_BOOTSTRAP, else ONCEONLY_KAFKA_BOOTSTRAP, else deploy/local's."""
    return os.environ.get(
        "ONCEONLY_TEST_KAFKA_BOOTSTRAP",
        os.environ.get("ONCEONLY_KAFKA_BOOTSTRAP", DEFAULT_TEST_KAFKA_BOOTSTRAP),
    )


def production_keys() -> dict[str, str]:
    """Fresh keys for every secret setting, none of them a development one: for settings
    built as production builds them (`environment="production"`, `**production_keys()`)."""
    return {
        "pii_keys": "prod1:" + base64.b64encode(os.urandom(32)).decode(),
        "department_api_token_keys": "prod-department-1:" + secrets.token_urlsafe(32),
        "tracking_api_token_keys": "prod-tracking-1:" + secrets.token_urlsafe(32),
        "notify_api_token_keys": "prod-notify-1:" + secrets.token_urlsafe(32),
        "notify_recipient_hash_key": secrets.token_urlsafe(32),
        "registry_lookup_key": secrets.token_urlsafe(32),
        "elicence_signing_keys": "prod-elicence-1:" + base64.b64encode(os.urandom(32)).decode(),
        "timeline_checkpoint_signing_keys": "prod-checkpoint-1:"
        + base64.b64encode(os.urandom(32)).decode(),
    }


# Named like tests, but not tests: pytest must not collect them where they are imported.
test_database_url.__test__ = False  # type: ignore[attr-defined]
test_kafka_bootstrap.__test__ = False  # type: ignore[attr-defined]


@asynccontextmanager
async def migrated_pool(
    dsn: str, *, component: str, package: str, max_size: int = 10
) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `dsn` with the platform's and `package`'s migrations applied."""
    pool = await create_pool(dsn, max_size=max_size)
    try:
        await prepare_database(pool, component=component, package=package)
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def rolled_back(
    pool: asyncpg.Pool, *, isolation: str | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back at the end: whatever the
    test wrote (rows, temporary tables) is gone after it."""
    async with pool.acquire() as conn:
        transaction = conn.transaction(isolation=isolation)
        await transaction.start()
        try:
            yield conn
        finally:
            await transaction.rollback()


@asynccontextmanager
async def fresh_database(dsn: str | None = None) -> AsyncIterator[str]:
    """A new, empty database beside the test database (its URL), dropped afterwards: for
    a test that needs emptiness or a schema at an older migration, where the shared test
    database has other tests' rows and every migration applied."""
    base = dsn or test_database_url()
    name = f"onceonly_fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        await drop_database(base, name)


def unique_prefix(kind: str = "test") -> str:
    """A fresh name such as `test-1a2b3c4d`, for a topic prefix or a consumer group."""
    return f"{kind}-{uuid.uuid4().hex[:8]}"


# Below Linux's default ephemeral range (32768-60999), so that no outgoing connection
# (Kafka's clients open many) takes a port between its choice and its server's bind, and
# below the fixed ports of deploy/local's Temporal on PostgreSQL (27233 and up) and
# Kafka cluster (29092 and up).
_FIRST_PORT, _LAST_PORT, _DEFAULT_EPHEMERAL_START = 20000, 26999, 32768


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_EPHEMERAL_START


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback TCP ports that nothing listens on now, for servers a test
    starts.

    They are bound together before any is given back: ports probed one at a time can come
    back twice (two services were once given the same port and one answered the other's
    requests). They come from 20000-26999: below the kernel's ephemeral range (where it
    leaves room) and deploy/local's fixed ports."""
    if count <= 0:
        return []
    end = min(_ephemeral_start(), _LAST_PORT + 1)
    start = _FIRST_PORT if end - _FIRST_PORT >= 1000 else 1024
    held: list[socket.socket] = []
    try:
        for port in random.sample(range(start, end), min(end - start, 200 + 20 * count)):
            probe = socket.socket()
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                probe.close()
                continue
            held.append(probe)
            if len(held) == count:
                return [int(probe.getsockname()[1]) for probe in held]
        raise RuntimeError(f"no {count} free ports in {start}-{end - 1}")
    finally:
        for probe in held:
            probe.close()


def free_port() -> int:
    """One loopback TCP port that nothing listens on now (free_ports(1))."""
    return free_ports(1)[0]


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], object] = bool,
    *,
    within: float = 30.0,
    what: str = "condition",
    interval: float = 0.1,
) -> T:
    """Poll `probe` until `done(result)` is true (by default: until the result is truthy)
    and return that result; fail after `within` seconds with the last result.

    The probe runs at least once, and once more after the deadline has passed."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within}s; last result: {result!r}")
        await asyncio.sleep(interval)


class TopicReader:
    """Reads a topic from the beginning with its own consumer group: `async with`, then
    `poll()` or `until(...)`; `records` holds everything read so far."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self.records: list[ConsumerRecord] = []

    async def __aenter__(self) -> TopicReader:
        # The topic exists before the consumer subscribes, so it sees it at once.
        await ensure_topics(self._bootstrap, [self._topic])
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=unique_prefix("test-reader"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def poll(self) -> list[ConsumerRecord]:
        assert self._consumer is not None, "use `async with reader:`"
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            self.records.extend(records)
        return self.records

    async def until(
        self, done: Callable[[list[ConsumerRecord]], object], *, within: float = 30.0, what: str
    ) -> list[ConsumerRecord]:
        """Everything read once `done(records)` holds; fails after `within` seconds."""
        return await eventually(self.poll, done, within=within, what=what)
