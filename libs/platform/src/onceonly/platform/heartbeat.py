"""Heartbeats of background processes, read by their service's health endpoint."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)


async def beat(pool: asyncpg.Pool, component: str, detail: dict[str, Any] | None = None) -> None:
    await pool.execute(
        """
        INSERT INTO platform.heartbeats (component, pid, detail, beat_at)
        VALUES ($1, $2, $3::jsonb, now())
        ON CONFLICT (component) DO UPDATE
            SET pid = EXCLUDED.pid, detail = EXCLUDED.detail, beat_at = EXCLUDED.beat_at
        """,
        component,
        os.getpid(),
        json.dumps(detail or {}),
    )


async def run_heartbeat(
    pool: asyncpg.Pool,
    component: str,
    *,
    every: float,
    detail: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Beat until cancelled; a failed beat is logged and retried, never fatal.

    Any error, not only the server's: while Postgres restarts, asyncpg also raises
    InterfaceError and InternalClientError, and a heartbeat task that died of one left
    its process healthy but reported stale forever (found by tests/chaos).
    """
    while True:
        try:
            await beat(pool, component, detail() if detail else None)
        except Exception as exc:
            log.warning(
                "heartbeat failed", component=component, error=f"{type(exc).__name__}: {exc}"
            )
        await asyncio.sleep(every)


async def stale_components(
    pool: asyncpg.Pool, components: list[str], *, max_age_seconds: float
) -> dict[str, str]:
    """Components whose last beat is missing or older than `max_age_seconds`, with why."""
    rows = await pool.fetch(
        "SELECT component, extract(epoch FROM now() - beat_at) AS age"
        " FROM platform.heartbeats WHERE component = ANY($1::text[])",
        components,
    )
    ages = {row["component"]: float(row["age"]) for row in rows}
    problems: dict[str, str] = {}
    for component in components:
        if component not in ages:
            problems[component] = "no heartbeat yet"
        elif ages[component] > max_age_seconds:
            problems[component] = f"last heartbeat {ages[component]:.0f}s ago"
    return problems
