"""`workflow.task_list` on the real Postgres: the newest version wins whatever the order
of writes, a task the application no longer has and a closed application's tasks leave
the list, and only the codes asked for are read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
import pytest_asyncio

from onceonly.platform.testing import migrated_pool
from onceonly.workflow.shared import TaskListUpdate, TaskSnapshot
from onceonly.workflow.task_list import PostgresTaskList

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="workflow", package="onceonly.workflow", max_size=2
    ) as opened:
        yield opened


def task(department: str, *, state: str = "open", assignee: str = "") -> TaskSnapshot:
    return TaskSnapshot(
        department_code=department,
        task_name="审批",
        state=state,
        committed_days=5,
        started_at="2026-12-04T01:00:00+00:00",
        due_at="2026-12-11T15:59:59+00:00",
        provisional=False,
        assignee=assignee,
        reason="never listed",
    )


def update(version: int, *tasks: TaskSnapshot, state: str = "in_approval") -> TaskListUpdate:
    return TaskListUpdate("household-transfer", state, version, list(tasks))


async def test_the_newest_version_wins_and_departments_leave(pool: asyncpg.Pool) -> None:
    code = f"test-{uuid.uuid4().hex[:10]}"
    tasks = PostgresTaskList(pool)
    await tasks.record(code, update(2, task("public-security", assignee="ps-1"), task("tax")))
    await tasks.record(code, update(1, task("public-security"), task("tax")))  # overtaken
    listed = await tasks.open_tasks("public-security", [code])
    assert [(row.application_code, row.task.assignee) for row in listed] == [(code, "ps-1")]
    assert listed[0].task.reason == ""  # the list keeps only what it shows

    await tasks.record(code, update(3, task("public-security", state="approved")))
    assert await tasks.open_tasks("public-security", [code]) == []
    assert await tasks.open_tasks("tax", [code]) == []  # no longer in the application
    assert await tasks.open_tasks("tax", ["another-code"]) == []


async def test_a_closed_application_shows_no_task(pool: asyncpg.Pool) -> None:
    code = f"test-{uuid.uuid4().hex[:10]}"
    tasks = PostgresTaskList(pool)
    await tasks.record(code, update(1, task("tax")))
    assert len(await tasks.open_tasks("tax", [code])) == 1
    await tasks.record(code, update(2, task("tax"), state="withdrawn"))
    assert await tasks.open_tasks("tax", [code]) == []


async def test_filters_and_pages_newest_first(pool: asyncpg.Pool) -> None:
    tasks = PostgresTaskList(pool)
    tag = uuid.uuid4().hex[:8]
    codes = [f"test-{tag}-{n}" for n in range(5)]
    for n, code in enumerate(codes):
        snapshot = replace(
            task("tax", assignee="tax-1" if n % 2 else ""),
            started_at=f"2026-12-0{n + 1}T01:00:00+00:00",
            supervision_level="red" if n in (1, 4) else "none",
        )
        matter = "birth-of-child" if n == 2 else "household-transfer"
        await tasks.record(code, TaskListUpdate(matter, "in_approval", 1, [snapshot]))
    newest_first = list(reversed(codes))

    async def listed(**narrowed: object) -> list[str]:
        return [row.application_code for row in await tasks.open_tasks("tax", codes, **narrowed)]

    assert await listed() == newest_first
    assert await listed(matter="birth-of-child") == [codes[2]]
    assert await listed(levels=["red"]) == [codes[4], codes[1]]
    assert await listed(levels=["none", "yellow"]) == [codes[3], codes[2], codes[0]]
    assert await listed(assignee="tax-1") == [codes[3], codes[1]]
    # Pages of two, each after the last one's (started_at, code).
    seen: list[str] = []
    after = None
    while True:
        page = await tasks.open_tasks("tax", codes, after=after, limit=2)
        seen += [row.application_code for row in page]
        if len(page) < 2:
            break
        after = (page[-1].task.started_at, page[-1].application_code)
    assert seen == newest_first
