"""Scratch databases (tests', benchmarks') dropped on the real Postgres, sessions and all."""

from __future__ import annotations

import asyncpg
import pytest

from onceonly.platform.db import drop_database
from onceonly.platform.testing import fresh_database

pytestmark = pytest.mark.integration


async def _exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_a_database_with_a_session_still_open_is_dropped(database_url: str) -> None:
    async with fresh_database(database_url) as url:
        name = url.rsplit("/", 1)[1]
        left_open = await asyncpg.connect(url)
        assert await _exists(database_url, name)

        await drop_database(database_url, name)

        assert not await _exists(database_url, name)
        assert left_open.is_closed() or not await _still_answers(left_open)


async def _still_answers(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


async def test_dropping_what_is_not_there_is_no_error(database_url: str) -> None:
    await drop_database(database_url, "onceonly_fresh_never_made")
    assert not await _exists(database_url, "onceonly_fresh_never_made")
