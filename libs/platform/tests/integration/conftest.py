"""The platform's own tables on the test database, shared by its integration tests."""

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from onceonly.platform.testing import migrated_pool


@pytest_asyncio.fixture(scope="module")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool with the platform's migrations applied (no component's)."""
    async with migrated_pool(
        database_url, component="platform", package="onceonly.platform", max_size=4
    ) as created:
        yield created
