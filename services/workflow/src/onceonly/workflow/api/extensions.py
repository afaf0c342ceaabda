"""Extensions (延期): a department asks for more days; its head approves or refuses."""

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import TASK_CHANGE_RESPONSES, TASK_PATH, OwnTaskChange
from onceonly.workflow.api.models import ExtensionDecision, ExtensionRequest, TaskActionView
from onceonly.workflow.shared import ExtensionDecisionInput, ExtensionRequestInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH + "/extension", responses=TASK_CHANGE_RESPONSES)


@router.post("", response_model=TaskActionView, summary="Ask for more days on my task")
async def request_extension(change: OwnTaskChange, body: ExtensionRequest) -> TaskActionView:
    request = ExtensionRequestInput(
        department_code=change.department, days=body.days, reason=body.reason, **change.acting
    )
    return await change.task_action(JointApproval.request_extension, request)


@router.post(
    "/decision",
    response_model=TaskActionView,
    summary="Approve or refuse the extension asked for (department head)",
)
async def decide_extension(change: OwnTaskChange, body: ExtensionDecision) -> TaskActionView:
    request = ExtensionDecisionInput(
        department_code=change.department,
        approved=body.approved,
        note=body.note,
        **change.acting,
    )
    return await change.task_action(JointApproval.decide_extension, request)
