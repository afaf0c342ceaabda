"""Fixtures for intake's integration tests: the real test database and Kafka, the API
in-process over ASGI, a unique topic prefix per test, and a reader of the submissions."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from onceonly.intake.api import create_app
from onceonly.intake.relay import OutboxRelay
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.telemetry import configure_telemetry
from onceonly.platform.testing import TopicReader, migrated_pool, unique_prefix
from onceonly.platform.topics import Stream, topic_name

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
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="intake", package="onceonly.intake", max_size=20
    ) as created:
        yield created


@pytest.fixture(scope="session", autouse=True)
def tracing() -> None:
    """A real tracer provider, so that requests have trace ids to carry."""
    configure_telemetry("onceonly-intake-tests")


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> IntakeSettings:
    return IntakeSettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique_prefix(),
        heartbeat_seconds=0.5,
        relay_poll_seconds=0.5,
        relay_max_backoff_seconds=0.5,
        relay_publish_timeout_seconds=10.0,
        integrator_key_cache_seconds=1.0,
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
    created = OutboxRelay.from_settings(pool, settings)
    yield created
    await created.close()


@pytest.fixture
def reader(kafka_bootstrap: str, submissions_topic: str) -> TopicReader:
    return TopicReader(kafka_bootstrap, submissions_topic)
