"""The task list the department API reads: every published event carries the
application's tasks, and the publishing activity records them after the event is out,
newest version kept; the list follows starts, claims and withdrawal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.testing import eventually
from onceonly.workflow.shared import (
    ApplicationSnapshot,
    AssignmentInput,
    TaskListUpdate,
    WithdrawalInput,
)
from onceonly.workflow.task_list_backfill import BACKFILL_VERSION, backfill
from onceonly.workflow.worker import build_worker
from onceonly.workflow.workflows import JointApproval

from .test_department_actions import HOUSEHOLD, staff, start, update


@dataclass
class MemoryTaskList:
    """The writer's contract in memory: an older version never overwrites a newer one."""

    sent: list[object]  # the producer's record of published events
    recorded: dict[str, TaskListUpdate] = field(default_factory=dict)
    versions: list[int] = field(default_factory=list)
    events_out: list[int] = field(default_factory=list)

    async def record(self, application_code: str, update: TaskListUpdate) -> None:
        self.events_out.append(len(self.sent))
        self.versions.append(update.version)
        known = self.recorded.get(application_code)
        if known is None or known.version < update.version:
            self.recorded[application_code] = update

    async def open_of(self, code: str, department: str) -> list[str]:
        found = self.recorded.get(code)
        if found is None or found.application_state == "withdrawn":
            return []
        return [
            task.assignee or "-"
            for task in found.tasks
            if task.department_code == department and task.state == "open"
        ]


async def test_the_task_list_follows_the_workflow(
    time_skipping_env, harness, make_activities, application_code
) -> None:
    tasks = MemoryTaskList(harness.producer.sent)
    activities = make_activities(harness.producer, default_calendar(), task_list=tasks)
    task_queue = f"list-{uuid.uuid4().hex[:8]}"
    worker = build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities)
    harness.task_queue = task_queue
    async with worker:
        handle = await start(harness, application_code, HOUSEHOLD)
        listed = await eventually(
            lambda: tasks.open_of(application_code, "public-security"), what="the open task"
        )
        assert listed == ["-"]
        # Recorded only once events were out, never before the first (the starts).
        assert tasks.events_out and min(tasks.events_out) > 0

        await update(handle, "assign", AssignmentInput("public-security", "ps-1", **staff("ps-1")))
        assert await eventually(
            lambda: tasks.open_of(application_code, "public-security"),
            lambda found: found == ["ps-1"],
            what="the claim in the list",
        )

        await handle.signal("withdraw", WithdrawalInput("test over"))
        await handle.result()
        assert await tasks.open_of(application_code, "public-security") == []
    assert tasks.versions == sorted(tasks.versions)  # one publisher: increasing versions
    assert len(set(tasks.versions)) == len(tasks.versions)


class DroppedTaskList:
    """A worker from before the list existed: it records nothing."""

    async def record(self, application_code: str, update: TaskListUpdate) -> None:
        return None


async def test_the_backfill_lists_an_application_the_list_never_saw(
    time_skipping_env, harness, make_activities, application_code
) -> None:
    activities = make_activities(harness.producer, default_calendar(), task_list=DroppedTaskList())
    task_queue = f"backfill-{uuid.uuid4().hex[:8]}"
    worker = build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities)
    harness.task_queue = task_queue
    tasks = MemoryTaskList(harness.producer.sent)
    async with worker:
        handle = await start(harness, application_code, HOUSEHOLD)

        async def snapshot(code: str) -> ApplicationSnapshot:
            return await time_skipping_env.client.get_workflow_handle(code).query(
                JointApproval.snapshot
            )

        await eventually(
            lambda: snapshot(application_code),
            lambda found: bool(found.tasks),
            what="the tasks started",
        )

        async def codes() -> AsyncIterator[str]:
            yield application_code
            yield "no-such-application"  # its query fails: counted, not fatal

        result = await backfill(codes(), snapshot, tasks)
        assert (result.recorded, result.failed) == (1, 1)
        assert await tasks.open_of(application_code, "public-security") == ["-"]
        assert tasks.versions == [BACKFILL_VERSION]

        # The worker's next update (any real version) replaces the backfilled row.
        await tasks.record(application_code, TaskListUpdate("household-transfer", "withdrawn", 1))
        assert await tasks.open_of(application_code, "public-security") == []
        await handle.signal("withdraw", WithdrawalInput("test over"))
        await handle.result()
