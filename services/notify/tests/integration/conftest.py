"""Fixtures for notify's integration tests: the real test database and Kafka (the
database_url, kafka_bootstrap and producer fixtures of the repository's conftest), a
unique topic prefix and consumer group per test, and readers of its topics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.testing import TopicReader, migrated_pool, unique_prefix


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
        environment="test",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        notify_consumer_group=f"{prefix}-notify",
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
