"""`/v1/tasks`: the open tasks of the signed-in staff's department."""

import asyncio
from dataclasses import asdict

from fastapi import APIRouter

from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import Settings, Staff, TaskDaysLeft, Workflows
from onceonly.workflow.api.models import TaskView
from onceonly.workflow.shared import TaskState

router = APIRouter()


@router.get("/v1/tasks", response_model=list[TaskView], summary="Open tasks of my department")
async def list_tasks(
    who: Staff, workflows: Workflows, settings: Settings, days_left: TaskDaysLeft
) -> list[TaskView]:
    codes = await workflows.running_for(who.department_code, limit=settings.task_list_limit)
    snapshots = await asyncio.gather(
        *(workflows.snapshot(code) for code in codes), return_exceptions=True
    )
    views: list[TaskView] = []
    for snap in snapshots:
        if isinstance(snap, Problem):
            # Closed between the list and the query, or its worker is away: one
            # application must not hide the department's other tasks.
            continue
        if isinstance(snap, BaseException):
            raise snap
        views.extend(
            TaskView(
                application_code=snap.application_code,
                matter_code=snap.matter_code,
                days_left=days_left(snap.matter_code, task),
                **asdict(task),
            )
            for task in snap.tasks
            if task.department_code == who.department_code and task.state == TaskState.OPEN
        )
    return views
