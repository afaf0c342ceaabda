"""Fixtures for notify's integration tests: the real test database and Kafka (the
database_url, kafka_bootstrap and producer fixtures of the repository's conftest), a
unique topic prefix and consumer group per test, and readers of its topics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import uvicorn

from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.integrator_keys import PostgresIntegratorKeys
from onceonly.platform.testing import TopicReader, eventually, migrated_pool, unique_prefix


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="notify", package="onceonly.notify", max_size=10
    ) as created:
        yield created


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> NotifySettings:
    prefix = unique_prefix()
    return NotifySettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        notify_consumer_group=f"{prefix}-notify",
    )


@pytest.fixture
def local_receivers_settings(settings: NotifySettings) -> NotifySettings:
    """The same, in development with local webhook receivers allowed, explicitly: the
    stub integrators of these tests listen on http://127.0.0.1."""
    return NotifySettings(
        environment="development",
        notify_webhook_local_receivers=True,
        database_url=settings.database_url,
        kafka_bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        notify_consumer_group=settings.notify_consumer_group,
    )


@pytest.fixture
async def runtime(settings: NotifySettings, pool: asyncpg.Pool) -> AsyncIterator[NotifyRuntime]:
    """The notify consumer running in-process as an asyncio task."""
    started = NotifyRuntime(settings, pool=pool)
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
def reader(kafka_bootstrap: str) -> Callable[[str], TopicReader]:
    return lambda topic: TopicReader(kafka_bootstrap, topic)


@asynccontextmanager
async def _serve_locally(app: Any) -> AsyncIterator[str]:
    """A real HTTP server for an ASGI app on 127.0.0.1, port picked by the OS; yields its
    base URL. Stands in for the outside world (SMS gateway, integrators) in tests."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # a server that failed to start fails the test with its error
        return server.started

    try:
        await eventually(started, within=10, what="local server started")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
def serve() -> Callable[[Any], AbstractAsyncContextManager[str]]:
    return _serve_locally


@dataclass
class Integrator:
    id: str
    api_key: str
    key_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
async def intake_integrator(pool: asyncpg.Pool) -> Callable[[], Awaitable[Integrator]]:
    """Makes an integrator's key as intake's admin CLI does, in the platform's key
    directory of the same database."""
    keys = PostgresIntegratorKeys(pool)

    async def make() -> Integrator:
        integrator_id = f"int-{uuid.uuid4().hex[:10]}"
        key = await keys.issue(integrator_id)
        return Integrator(integrator_id, key.token, key.key_id)

    return make
