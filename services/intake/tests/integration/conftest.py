"""Fixtures for intake's integration tests: the real test database and Kafka, the API
in-process over ASGI, a unique topic prefix per test, and polling helpers."""

from __future__ import annotations

import asyncio
import copy
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fastapi import FastAPI

from onceonly.intake.api import create_app
from onceonly.intake.relay import OutboxRelay
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.kafka import ensure_topics
from onceonly.platform.telemetry import configure_telemetry
from onceonly.platform.topics import Stream, all_topics, topic_name

DEFAULT_TEST_DATABASE = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test"
T = TypeVar("T")

PERSON_APPLICATION: dict[str, Any] = {
    "matter_code": "household-transfer",
    "applicant": {"kind": "person", "name": "张三丰", "identifier": "11010519491231002X"},
    "contact": {"mobile": "13812345678", "channels": ["sms"], "language": "zh"},
    "materials": [
        {"code": "transfer-application", "reference": "doc://portal/1"},
        {"code": "household-register", "reference": "doc://portal/2"},
    ],
    "form": {"destination": "杭州市西湖区"},
}


@pytest.fixture
def person_application() -> dict[str, Any]:
    """A valid application of a person (a fresh copy each time)."""
    return copy.deepcopy(PERSON_APPLICATION)


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
    created = await create_pool(database_url, max_size=20)
    await prepare_database(created, component="intake", package="onceonly.intake")
    yield created
    await created.close()


@pytest.fixture(scope="session", autouse=True)
def tracing() -> None:
    """A real tracer provider, so that requests have trace ids to carry."""
    configure_telemetry("onceonly-intake-tests")


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> IntakeSettings:
    return IntakeSettings(
        environment="test",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"test-{uuid.uuid4().hex[:8]}",
        heartbeat_seconds=0.5,
        relay_poll_seconds=0.5,
        relay_max_backoff_seconds=0.5,
        relay_publish_timeout_seconds=10.0,
    )


@pytest.fixture
def submissions_topic(settings: IntakeSettings) -> str:
    return topic_name(settings.topic_prefix, Stream.SUBMISSIONS)


@pytest.fixture
async def app(settings: IntakeSettings, pool: asyncpg.Pool) -> AsyncIterator[FastAPI]:
    created = create_app(settings, pool=pool)
    async with created.router.lifespan_context(created):
        yield created


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as created:
        yield created


@dataclass(frozen=True)
class IntegratorCredentials:
    id: str
    key_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def new_integrator(pool: asyncpg.Pool) -> Callable[[], Awaitable[IntegratorCredentials]]:
    async def create() -> IntegratorCredentials:
        integrator_id, key = await IntegratorStore(pool).create_integrator(
            f"test integrator {uuid.uuid4().hex[:8]}"
        )
        return IntegratorCredentials(integrator_id, key.key_id, key.token)

    return create


@pytest.fixture
async def integrator(
    new_integrator: Callable[[], Awaitable[IntegratorCredentials]],
) -> IntegratorCredentials:
    return await new_integrator()


@pytest.fixture
async def relay(settings: IntakeSettings, pool: asyncpg.Pool) -> AsyncIterator[OutboxRelay]:
    created = OutboxRelay(
        pool,
        dsn=settings.database_url,
        bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
        publish_timeout=settings.relay_publish_timeout_seconds,
        max_backoff=settings.relay_max_backoff_seconds,
    )
    yield created
    await created.close()


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
        await asyncio.sleep(0.05)


class TopicReader:
    """Reads a topic from the beginning with its own consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self.records: list[ConsumerRecord] = []

    async def __aenter__(self) -> TopicReader:
        # The topic exists before the consumer subscribes, so it sees it at once.
        await ensure_topics(self._bootstrap, all_topics(self._topic.split(".", 1)[0]))
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
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
        self, done: Callable[[list[ConsumerRecord]], bool], *, within: float = 30.0, what: str
    ) -> list[ConsumerRecord]:
        return await eventually(self.poll, done, within=within, what=what)


@pytest.fixture
def reader(kafka_bootstrap: str, submissions_topic: str) -> TopicReader:
    return TopicReader(kafka_bootstrap, submissions_topic)


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Awaitable[Any]]:
    return eventually
