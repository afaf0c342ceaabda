"""The plans Postgres makes for the ledger's statements by key: the primary key, never
the rate limit's index, even on a table the planner has no statistics for.

A copy of notify.deliveries (`LIKE ... INCLUDING ALL`: its indexes, partial ones with
their predicates) is filled with one number's deliveries and left unanalysed, as a fresh
install's table is. Before migration 008 the planner chose the rate limit's index
(channel, recipient_hash, ...) for the multi-row updates there, and read every delivery
ever made to the number for each row it changed (a bench drain slowed from 1,200 to 235
records/s over its run; docs/performance.md): staff hear every alert of their
department, an agent every notice of many applications."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from onceonly.notify import ledger_batches, store
from onceonly.platform.testing import rolled_back

pytestmark = pytest.mark.integration

ROWS = 3000
NUMBER = uuid.uuid4().hex * 2  # one number's recipient_hash (64 hex digits)
COPY = "pg_temp.deliveries"


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with rolled_back(pool) as connection:
        await connection.execute(
            "CREATE TEMP TABLE deliveries (LIKE notify.deliveries INCLUDING ALL) ON COMMIT DROP"
        )
        await connection.execute(
            f"""
            INSERT INTO {COPY} (event_id, channel, recipient_hash, application_code,
                cause_event_type, recipient_masked, status, template, language,
                completed_at, outcome_published_at)
            SELECT 'event-' || n, 'sms', $1, 'code-' || n, 'ApplicationAccepted',
                '1381234****', 'sent', 'application_accepted', 'zh', now(), now()
            FROM generate_series(1, $2::int) AS n
            """,
            NUMBER,
            ROWS,
        )
        yield connection


def _indexes(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _indexes(child)
    return found


async def _plan_indexes(conn: asyncpg.Connection, statement: str) -> set[str]:
    """The indexes of the plan Postgres keeps for `statement` once it is prepared (as
    asyncpg prepares every statement) and planned for any parameters: a generic plan,
    the same whatever the values, so they are left NULL."""
    sql = statement.replace("notify.deliveries", COPY)
    assert COPY in sql
    name = f"plan_{uuid.uuid4().hex[:8]}"
    await conn.execute(f"PREPARE {name} AS {sql}")
    await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    parameters = max(int(n) for n in re.findall(r"\$(\d+)", sql))
    nulls = ", ".join(["NULL"] * parameters)
    [explained] = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})"))
    await conn.execute(f"DEALLOCATE {name}")
    return _indexes(explained["Plan"])


async def _key_statements(conn: asyncpg.Connection) -> dict[str, set[str]]:
    return {
        name: await _plan_indexes(conn, statement)
        for name, statement in (
            ("get", ledger_batches._GET),
            ("begin", ledger_batches._BEGIN),
            ("mark_sent", ledger_batches._MARK_SENT),
            ("mark_published", ledger_batches._MARK_PUBLISHED),
        )
    }


async def test_statements_by_key_use_the_primary_key_on_an_unanalysed_table(
    conn: asyncpg.Connection,
) -> None:
    plans = await _key_statements(conn)
    for name, indexes in plans.items():
        assert indexes == {"deliveries_pkey"}, f"{name} planned with {indexes}"


async def test_the_rate_limit_still_has_its_index(conn: asyncpg.Connection) -> None:
    await conn.execute("SET LOCAL enable_seqscan = off")
    await conn.execute("ANALYZE pg_temp.deliveries")
    indexes = await _plan_indexes(conn, store._RECENT_SENDS)
    assert indexes == {"deliveries_channel_recipient_hash_coalesce_idx"}
