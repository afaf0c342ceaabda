"""The department API's task list, kept in Postgres by the publishing activity: each
application's tasks as of its last published event (`TaskListUpdate`), so that listing a
department's open tasks is one read, not a Temporal query per open application.

Every change of a task publishes an event, so the list is as current as the events; an
older update (a retried or overtaken activity) never overwrites a newer one (`version`).
Applications started by workers before this list existed appear with their next event.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Protocol

import asyncpg

from onceonly.workflow.department_tasks import CLOSED
from onceonly.workflow.shared import TaskListUpdate, TaskSnapshot, TaskState

# What the list shows of a task (the snapshot's decision details are not needed there).
_LISTED = (
    "department_code",
    "task_name",
    "state",
    "committed_days",
    "started_at",
    "due_at",
    "provisional",
    "supervision_level",
    "paused",
    "assignee",
    "special_procedure",
    "extended_days",
    "pending_extension_days",
)


class TaskListWriter(Protocol):
    async def record(self, application_code: str, update: TaskListUpdate) -> None: ...


class PostgresTaskList:
    """`workflow.task_list` (migration 005)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, application_code: str, update: TaskListUpdate) -> None:
        """The application's tasks as of `update`, unless a newer update is recorded."""
        closed = update.application_state in {state.value for state in CLOSED}
        rows = [
            (
                application_code,
                task.department_code,
                update.matter_code,
                update.application_state,
                task.state == TaskState.OPEN and not closed,
                json.dumps({name: getattr(task, name) for name in _LISTED}),
                update.version,
            )
            for task in update.tasks
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(
                """
                INSERT INTO workflow.task_list (application_code, department_code,
                    matter_code, application_state, shown, task, version)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
                ON CONFLICT (application_code, department_code) DO UPDATE
                SET matter_code = EXCLUDED.matter_code,
                    application_state = EXCLUDED.application_state,
                    shown = EXCLUDED.shown, task = EXCLUDED.task,
                    version = EXCLUDED.version, updated_at = now()
                WHERE workflow.task_list.version < EXCLUDED.version
                """,
                rows,
            )
            # A task the application no longer has leaves the list.
            await conn.execute(
                """
                UPDATE workflow.task_list
                SET shown = false, application_state = $3, version = $4, updated_at = now()
                WHERE application_code = $1 AND NOT (department_code = ANY($2::text[]))
                  AND version < $4
                """,
                application_code,
                [task.department_code for task in update.tasks],
                update.application_state,
                update.version,
            )

    async def open_tasks(
        self,
        department: str,
        codes: list[str],
        *,
        matter: str | None = None,
        levels: list[str] | None = None,
        assignee: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[ListedTask]:
        """The department's open tasks in the applications `codes` (those still running),
        newest start first; narrowed by matter, supervision levels and assignee; after the
        (started_at, application_code) of a previous page's last task, at most `limit`."""
        started, code = after if after is not None else (None, None)
        rows = await self._pool.fetch(
            """
            SELECT application_code, matter_code, task FROM workflow.task_list
            WHERE department_code = $1 AND shown AND application_code = ANY($2::text[])
              AND ($3::text IS NULL OR matter_code = $3)
              AND ($4::text[] IS NULL
                   OR coalesce(task->>'supervision_level', 'none') = ANY($4::text[]))
              AND ($5::text IS NULL OR coalesce(task->>'assignee', '') = $5)
              AND ($6::text IS NULL OR (task->>'started_at', application_code) < ($6, $7))
            ORDER BY task->>'started_at' DESC, application_code DESC
            LIMIT $8
            """,
            department,
            codes,
            matter,
            levels,
            assignee,
            started,
            code,
            limit,
        )
        return [
            ListedTask(row["application_code"], row["matter_code"], _task(row["task"]))
            for row in rows
        ]


class ListedTask:
    """One row of the list: the application, its matter, the task."""

    __slots__ = ("application_code", "matter_code", "task")

    def __init__(self, application_code: str, matter_code: str, task: TaskSnapshot) -> None:
        self.application_code = application_code
        self.matter_code = matter_code
        self.task = task


def _task(value: Any) -> TaskSnapshot:
    data = json.loads(value) if isinstance(value, str) else dict(value)
    return TaskSnapshot(**{name: data[name] for name in _LISTED if name in data})


def listed_fields(task: TaskSnapshot) -> dict[str, Any]:
    """The task's fields the list shows (as TaskView takes them)."""
    return {name: value for name, value in asdict(task).items() if name in _LISTED}
