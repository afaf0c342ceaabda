"""The open-tasks gauge's query against the real projection table."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from prometheus_client import REGISTRY

from onceonly.platform.testing import rolled_back
from onceonly.tracking.metrics import open_tasks_by_level, refresh_open_tasks

pytestmark = pytest.mark.integration


async def _insert(
    conn: asyncpg.Connection, status: str, tasks: dict[str, dict[str, object]]
) -> None:
    await conn.execute(
        "INSERT INTO tracking.application_status (application_code, status, tasks)"
        " VALUES ($1, $2, $3::jsonb)",
        f"metrics-{uuid.uuid4().hex}",
        status,
        json.dumps(tasks),
    )


async def test_open_tasks_are_counted_by_level_and_finished_ones_are_not(
    pool: asyncpg.Pool,
) -> None:
    # One snapshot for the whole test: other tests' rows cannot move the counts, and
    # the rows inserted here are rolled back.
    async with rolled_back(pool, isolation="repeatable_read") as conn:
        before = await open_tasks_by_level(conn)
        await _insert(
            conn,
            "accepted",
            {
                "a": {"state": "started", "supervision_level": "yellow"},
                "b": {"state": "supplement_requested", "supervision_level": "red"},
                "c": {"state": "approved", "supervision_level": "none"},
                "d": {"state": "started"},  # no alert yet
                "e": {"state": "cancelled", "supervision_level": "red"},
            },
        )
        # A finished application has no open task, whatever its tasks say.
        await _insert(conn, "completed", {"a": {"state": "started", "supervision_level": "red"}})
        after = await open_tasks_by_level(conn)
    assert set(after) == {"none", "yellow", "red", "legal"}
    assert {level: after[level] - before[level] for level in after} == {
        "none": 1,
        "yellow": 1,
        "red": 1,
        "legal": 0,
    }


async def test_the_gauge_has_every_level(pool: asyncpg.Pool) -> None:
    await refresh_open_tasks(pool)
    for level in ("none", "yellow", "red", "legal"):
        value = REGISTRY.get_sample_value("onceonly_tracking_open_tasks", {"level": level})
        assert value is not None and value >= 0
