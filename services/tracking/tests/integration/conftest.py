"""Fixtures for tracking's integration tests: the real test database, migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from onceonly.platform.testing import migrated_pool
from onceonly.tracking.store import TrackingStore


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="tracking", package="onceonly.tracking", max_size=20
    ) as created:
        yield created


@pytest.fixture
def store(pool: asyncpg.Pool) -> TrackingStore:
    return TrackingStore(pool)
