"""Who reviews a task: a reviewer claims it, or the department head assigns it."""

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import (
    TASK_CHANGE_RESPONSES,
    TASK_PATH,
    Code,
    Department,
    OwnTask,
    Staff,
    Workflows,
    acting,
)
from onceonly.workflow.api.models import AssignmentRequest, TaskActionView
from onceonly.workflow.shared import AssignmentInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH, responses=TASK_CHANGE_RESPONSES)


@router.post(
    "/assignment",
    response_model=TaskActionView,
    summary="Claim my department's task, or (department head) assign it to a reviewer",
)
async def assign(
    who: Staff,
    code: Code,
    department: Department,
    application: OwnTask,
    body: AssignmentRequest,
    workflows: Workflows,
) -> TaskActionView:
    request = AssignmentInput(
        department_code=department,
        assignee=body.assignee or who.staff_id,
        **acting(who),
    )
    return await workflows.task_action(application, JointApproval.assign, request)
