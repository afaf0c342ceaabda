"""Extensions (延期): a department asks for more days; its head approves or refuses."""

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
from onceonly.workflow.api.models import ExtensionDecision, ExtensionRequest, TaskActionView
from onceonly.workflow.shared import ExtensionDecisionInput, ExtensionRequestInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH + "/extension", responses=TASK_CHANGE_RESPONSES)


@router.post("", response_model=TaskActionView, summary="Ask for more days on my task")
async def request_extension(
    who: Staff,
    code: Code,
    department: Department,
    application: OwnTask,
    body: ExtensionRequest,
    workflows: Workflows,
) -> TaskActionView:
    request = ExtensionRequestInput(
        department_code=department,
        days=body.days,
        reason=body.reason,
        **acting(who),
    )
    return await workflows.task_action(application, JointApproval.request_extension, request)


@router.post(
    "/decision",
    response_model=TaskActionView,
    summary="Approve or refuse the extension asked for (department head)",
)
async def decide_extension(
    who: Staff,
    code: Code,
    department: Department,
    application: OwnTask,
    body: ExtensionDecision,
    workflows: Workflows,
) -> TaskActionView:
    request = ExtensionDecisionInput(
        department_code=department,
        approved=body.approved,
        note=body.note,
        **acting(who),
    )
    return await workflows.task_action(application, JointApproval.decide_extension, request)
