"""Heartbeats of background processes, read by their service's health endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)


def instance_name() -> str:
    """This process among the replicas of its component: host (a pod's name) and pid."""
    return f"{socket.gethostname()}/{os.getpid()}"


async def beat(pool: asyncpg.Pool, component: str, detail: dict[str, Any] | None = None) -> None:
    """This instance's beat; rows of the component's instances silent for an hour (gone:
    a replica scaled down, a pod replaced) are removed on the way."""
    await pool.execute(
        """
        WITH gone AS (
            DELETE FROM platform.instance_heartbeats
            WHERE component = $1 AND beat_at < now() - interval '1 hour'
        )
        INSERT INTO platform.instance_heartbeats (component, instance, pid, detail, beat_at)
        VALUES ($1, $2, $3, $4::jsonb, now())
        ON CONFLICT (component, instance) DO UPDATE
            SET pid = EXCLUDED.pid, detail = EXCLUDED.detail, beat_at = EXCLUDED.beat_at
        """,
        component,
        instance_name(),
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
    """Components none of whose instances beat within `max_age_seconds`, with why. One
    replica alive is enough: a dead one is replaced by its orchestrator, and the others
    take its share (Kafka partitions, Temporal tasks, outbox rows)."""
    rows = await pool.fetch(
        "SELECT component, min(extract(epoch FROM now() - beat_at)) AS age"
        " FROM platform.instance_heartbeats WHERE component = ANY($1::text[]) GROUP BY component",
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
