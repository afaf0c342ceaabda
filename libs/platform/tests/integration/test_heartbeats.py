"""Heartbeats per instance, on the real Postgres: every replica beats on its own row, a
component is alive while any replica beats, and rows of replicas long gone are pruned."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from onceonly.platform.heartbeat import beat, instance_name, stale_components
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


async def other_replica(pool: asyncpg.Pool, component: str, *, age: timedelta) -> None:
    await pool.execute(
        "INSERT INTO platform.instance_heartbeats (component, instance, pid, beat_at)"
        " VALUES ($1, 'another-pod/1', 1, now() - $2::interval)",
        component,
        age,
    )


async def instances(pool: asyncpg.Pool, component: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT instance FROM platform.instance_heartbeats WHERE component = $1 ORDER BY instance",
        component,
    )
    return [row["instance"] for row in rows]


async def test_each_replica_beats_on_its_own_row(pool: asyncpg.Pool) -> None:
    component = unique_prefix("relay")
    await other_replica(pool, component, age=timedelta(seconds=1))
    await beat(pool, component, {"backlog": 3})
    await beat(pool, component, {"backlog": 4})
    assert await instances(pool, component) == sorted(["another-pod/1", instance_name()])


async def test_one_live_replica_keeps_the_component_alive(pool: asyncpg.Pool) -> None:
    component = unique_prefix("relay")
    await other_replica(pool, component, age=timedelta(minutes=10))
    assert await stale_components(pool, [component], max_age_seconds=30) == {
        component: "last heartbeat 600s ago"
    }
    await beat(pool, component)
    assert await stale_components(pool, [component], max_age_seconds=30) == {}


async def test_replicas_silent_for_an_hour_are_pruned(pool: asyncpg.Pool) -> None:
    component = unique_prefix("relay")
    await other_replica(pool, component, age=timedelta(hours=2))
    await beat(pool, component)
    assert await instances(pool, component) == [instance_name()]
