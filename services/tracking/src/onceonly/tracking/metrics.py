"""Prometheus gauges computed from the status projection (served by the tracking API)."""

from __future__ import annotations

import asyncpg
from prometheus_client import Gauge

from onceonly.approval import FINISHED, TASK_FINISHED, SupervisionLevel

LEVELS = tuple(level.value for level in SupervisionLevel)

OPEN_TASKS = Gauge(
    "onceonly_tracking_open_tasks",
    "Open department tasks of unfinished applications, by supervision level",
    ["level"],
)


async def open_tasks_by_level(conn: asyncpg.Pool | asyncpg.Connection) -> dict[str, int]:
    """Open tasks per supervision level, every level present (0 when none)."""
    rows = await conn.fetch(
        """
        SELECT coalesce(task.value->>'supervision_level', $3) AS level, count(*) AS tasks
        FROM tracking.application_status AS s, jsonb_each(s.tasks) AS task
        WHERE s.status <> ALL($1::text[])
          AND coalesce(task.value->>'state', '') <> ALL($2::text[])
        GROUP BY 1
        """,
        sorted(state.value for state in FINISHED),
        sorted(state.value for state in TASK_FINISHED),
        SupervisionLevel.NONE.value,
    )
    found = dict.fromkeys(LEVELS, 0)
    for row in rows:
        # Only known levels become labels: the label set stays fixed.
        if row["level"] in found:
            found[row["level"]] = int(row["tasks"])
    return found


async def refresh_open_tasks(pool: asyncpg.Pool) -> None:
    for level, count in (await open_tasks_by_level(pool)).items():
        OPEN_TASKS.labels(level).set(count)
