"""Fixtures for notify's integration tests: the real test database and Kafka, a unique
topic prefix and consumer group per test, and helpers that poll with a deadline."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.kafka import build_producer

DEFAULT_TEST_DATABASE = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test"
T = TypeVar("T")


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("ONCEONLY_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return os.environ.get(
        "ONCEONLY_TEST_KAFKA_BOOTSTRAP",
        os.environ.get("ONCEONLY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(database_url, max_size=10)
    await prepare_database(created, component="notify", package="onceonly.notify")
    yield created
    await created.close()


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> NotifySettings:
    run = uuid.uuid4().hex[:8]
    return NotifySettings(
        environment="test",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"test-{run}",
        notify_consumer_group=f"test-notify-{run}",
    )


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    created = build_producer(kafka_bootstrap, client_id="notify-tests")
    await created.start()
    yield created
    await created.stop()


@pytest.fixture
async def runtime(settings: NotifySettings, pool: asyncpg.Pool) -> AsyncIterator[NotifyRuntime]:
    """The notify consumer running in-process as an asyncio task."""
    started = NotifyRuntime(settings, pool=pool)
    await started.start()
    yield started
    await started.stop()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    within: float = 30.0,
    what: str = "condition",
) -> T:
    """Poll `probe` until `done(result)`, or fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {within}s; last result: {result!r}")
        await asyncio.sleep(0.1)


class TopicReader:
    """Reads a topic from the beginning with its own consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.records: list[ConsumerRecord] = []

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> list[ConsumerRecord]:
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            self.records.extend(records)
        return self.records

    async def until(
        self, done: Callable[[list[ConsumerRecord]], bool], *, within: float = 30.0, what: str
    ) -> list[ConsumerRecord]:
        return await eventually(self.poll, done, within=within, what=what)


@pytest.fixture
def reader(kafka_bootstrap: str) -> Callable[[str], TopicReader]:
    return lambda topic: TopicReader(kafka_bootstrap, topic)


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[object]]:
    return eventually
