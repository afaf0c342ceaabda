"""Fixtures for tracking's integration tests: the real test database and Kafka."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from onceonly.platform.db import create_pool, prepare_database
from onceonly.tracking.store import TrackingStore

DEFAULT_TEST_DATABASE = "postgresql://onceonly:onceonly@127.0.0.1:5432/onceonly_test"


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
    await prepare_database(created, component="tracking", package="onceonly.tracking")
    yield created
    await created.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> TrackingStore:
    return TrackingStore(pool)
