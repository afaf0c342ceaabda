"""Dropping the status projection and rebuilding it from the timelines loses nothing.

The whole projection is truncated and rebuilt: in a database of its own, so that no
other test's rows are touched or counted."""

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.store import TrackingStore

pytestmark = pytest.mark.integration

COLUMNS = (
    "application_code, matter_code, status, tasks, last_event_at, supervision_level,"
    " paused, due_at, supervision, rating"
)


@pytest.fixture
async def own_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=4) as pool,
    ):
        yield pool


async def snapshot(pool: asyncpg.Pool) -> dict[str, tuple]:
    rows = await pool.fetch(f"SELECT {COLUMNS} FROM tracking.application_status")
    return {row["application_code"]: tuple(row) for row in rows}


async def test_rebuild_after_truncation_gives_exactly_the_same_projection(
    own_pool: asyncpg.Pool, events
) -> None:
    pool, store = own_pool, TrackingStore(own_pool)
    supplement = approval_pb2.DECISION_OUTCOME_SUPPLEMENT_REQUESTED
    raised = events.t0 + timedelta(days=8)
    lives = []
    for kind in range(5):
        code = events.code()
        messages = [events.submitted(code), events.accepted(code), events.task_started(code)]
        if kind == 1:
            messages += [events.alert(code, level=2, raised_at=raised)]
        if kind == 2:
            messages += [events.alert(code, level=3, raised_at=raised), events.task_decided(code)]
            messages += [events.completed(code)]
        if kind == 3:
            messages += [events.task_decided(code, outcome=supplement)]
            messages += [events.alert(code, department="", level=3, raised_at=raised)]
        if kind == 4:
            department = {"application_code": code, "department_code": "public-security"}
            messages += [
                approval_pb2.TaskAssigned(**department, assignee="officer-7"),
                approval_pb2.SpecialProcedureStarted(**department, kind="hearing"),
                approval_pb2.SpecialProcedureEnded(**department, kind="hearing"),
                application_pb2.RatingGiven(application_code=code, level=4),
            ]
        lives.append((code, messages))
    for code, messages in lives:
        for offset, message in enumerate(messages):
            envelope = events.envelope(message, code, minutes=offset)
            assert await store.append(envelope, topic="t", partition=0, offset=offset)

    before = await snapshot(pool)
    levels = [before[code][5] for code, _ in lives]
    assert levels == ["none", "yellow", "none", "red", "none"]
    assert before[lives[3][0]][6] is True  # paused by the supplement request
    procedure = json.loads(before[lives[4][0]][3])["public-security"]
    assert procedure["assignee"] == "officer-7"
    assert [i["reason"] for i in procedure["paused_intervals"]] == ["special_procedure:hearing"]
    assert procedure["paused_seconds"] == 60  # one minute apart
    assert before[lives[4][0]][9] == 4  # the rating

    await pool.execute("TRUNCATE tracking.application_status")
    rebuilt = await store.rebuild_status()
    assert rebuilt == len(lives) == len(before)
    assert await snapshot(pool) == before, "the incremental fold and the rebuild differ"
