"""Who reviews a task: a reviewer claims it, or the department head assigns it."""

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import TASK_CHANGE_RESPONSES, TASK_PATH, OwnTaskChange
from onceonly.workflow.api.models import AssignmentRequest, TaskActionView
from onceonly.workflow.shared import AssignmentInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH, responses=TASK_CHANGE_RESPONSES)


@router.post(
    "/assignment",
    response_model=TaskActionView,
    summary="Claim my department's task, or (department head) assign it to a reviewer",
)
async def assign(change: OwnTaskChange, body: AssignmentRequest) -> TaskActionView:
    assignee = body.assignee or change.who.staff_id
    request = AssignmentInput(department_code=change.department, assignee=assignee, **change.acting)
    return await change.task_action(JointApproval.assign, request)
