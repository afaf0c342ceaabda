"""`/v1/tasks`: the open tasks of the signed-in staff's department: which applications
run with the department in them from one visibility query (as before: a terminated
workflow publishes nothing, so only the server knows it stopped), their tasks from the
task list the publishing activity keeps (`onceonly.workflow.task_list`), in one read.
No query of any workflow, however many applications are open."""

from fastapi import APIRouter

from onceonly.platform.auth import in_region
from onceonly.workflow.api.dependencies import (
    Settings,
    Staff,
    TaskDaysLeft,
    TaskList,
    Workflows,
)
from onceonly.workflow.api.models import TaskView
from onceonly.workflow.task_list import listed_fields

router = APIRouter()


@router.get("/v1/tasks", response_model=list[TaskView], summary="Open tasks of my department")
async def list_tasks(
    who: Staff, workflows: Workflows, tasks: TaskList, settings: Settings, days_left: TaskDaysLeft
) -> list[TaskView]:
    running = await workflows.running_for_shared(
        who.department_code, limit=settings.task_list_limit
    )
    # 行政区划: staff of a division list the tasks of what is decided there and under it.
    codes = [code for code, region in running if in_region(who, region or code[:6])]
    listed = await tasks.open_tasks(who.department_code, codes)
    return [
        TaskView(
            application_code=row.application_code,
            matter_code=row.matter_code,
            days_left=days_left(row.matter_code, row.task),
            **listed_fields(row.task),
        )
        for row in listed
    ]
