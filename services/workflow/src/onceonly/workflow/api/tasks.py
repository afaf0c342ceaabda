"""`/v1/tasks`: the open tasks of the signed-in staff's department: which applications
run with the department in them from one visibility query (as before: a terminated
workflow publishes nothing, so only the server knows it stopped), their tasks from the
task list the publishing activity keeps (`onceonly.workflow.task_list`), in one read.
No query of any workflow, however many applications are open.

Filters (`matter`, `level`, `mine`) and pages (`limit`, `cursor`) are the task list's
query; the next page's link is in the `Link` header (RFC 8288, rel="next"), so that the
body stays the list it always was."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from onceonly.platform.auth import in_region
from onceonly.workflow.api.dependencies import (
    Settings,
    Staff,
    TaskDaysLeft,
    TaskList,
    Workflows,
)
from onceonly.workflow.api.models import TaskView
from onceonly.workflow.api.paging import cursor_after, pair
from onceonly.workflow.task_list import listed_fields

router = APIRouter()

MAX_PAGE = 500


@router.get(
    "/v1/tasks",
    response_model=list[TaskView],
    summary="Open tasks of my department",
    description="Newest start first. `matter`, `level` (repeatable) and `mine` (assigned"
    " to me) narrow the list; with `limit`, a page of it, the next page's URL in the"
    ' `Link` header (rel="next").',
    responses={422: {}},
)
async def list_tasks(
    who: Staff,
    workflows: Workflows,
    tasks: TaskList,
    settings: Settings,
    days_left: TaskDaysLeft,
    request: Request,
    response: Response,
    matter: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9-]{1,60}$")] = None,
    level: Annotated[list[Literal["none", "yellow", "red", "legal"]] | None, Query()] = None,
    mine: Annotated[bool, Query(description="only the tasks assigned to me")] = False,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> list[TaskView]:
    after = pair(cursor) if cursor is not None else None
    running = await workflows.running_for_shared(
        who.department_code, limit=settings.task_list_limit
    )
    # 行政区划: staff of a division list the tasks of what is decided there and under it.
    codes = [code for code, region in running if in_region(who, region or code[:6])]
    listed = await tasks.open_tasks(
        who.department_code,
        codes,
        matter=matter,
        levels=list(level) if level else None,
        assignee=who.staff_id if mine else None,
        after=after,
        limit=limit + 1 if limit is not None else None,
    )
    if limit is not None and len(listed) > limit:
        listed = listed[:limit]
        last = listed[-1]
        next_page = request.url.include_query_params(
            cursor=cursor_after(last.task.started_at, last.application_code)
        )
        response.headers["Link"] = f'<{next_page}>; rel="next"'
    return [
        TaskView(
            application_code=row.application_code,
            matter_code=row.matter_code,
            days_left=days_left(row.matter_code, row.task),
            **listed_fields(row.task),
        )
        for row in listed
    ]
