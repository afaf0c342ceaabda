"""Filling `workflow.task_list` for applications it does not hold: those started by
workers before the list existed, or a list restored from an older backup. Each running
application is asked for its snapshot (a Temporal query) once, by an operator command,
never on a request path.

A backfilled row has version 0, so it never overwrites a row the publishing activity
wrote, and the application's next event replaces it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass

from onceonly.workflow.shared import ApplicationSnapshot, TaskListUpdate
from onceonly.workflow.task_list import TaskListWriter

BACKFILL_VERSION = 0

Snapshot = Callable[[str], Awaitable[ApplicationSnapshot]]


def from_snapshot(snapshot: ApplicationSnapshot) -> TaskListUpdate:
    """What the list shows of an application, from its snapshot query."""
    return TaskListUpdate(
        matter_code=snapshot.matter_code,
        application_state=snapshot.state,
        version=BACKFILL_VERSION,
        tasks=list(snapshot.tasks),
    )


@dataclass
class BackfillResult:
    recorded: int = 0
    failed: int = 0


async def backfill(
    codes: AsyncIterable[str],
    snapshot: Snapshot,
    writer: TaskListWriter,
    *,
    progress: Callable[[BackfillResult], None] | None = None,
) -> BackfillResult:
    """Record every application of `codes` from its snapshot. An application whose query
    fails (a workflow that cannot be decoded, one that closed meanwhile) is counted and
    skipped: its next event, if any, records it."""
    result = BackfillResult()
    async for code in codes:
        try:
            update = from_snapshot(await snapshot(code))
        except Exception:  # one bad workflow must not stop the backfill
            result.failed += 1
        else:
            await writer.record(code, update)
            result.recorded += 1
        if progress is not None:
            progress(result)
    return result
