"""A department's decision (审批决定) on its task of an application."""

from dataclasses import asdict

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import TASK_CHANGE_RESPONSES, TASK_PATH, OwnTaskChange
from onceonly.workflow.api.models import DecisionRequest, DecisionView
from onceonly.workflow.shared import DecisionInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH, responses=TASK_CHANGE_RESPONSES)


@router.post(
    "/decision",
    response_model=DecisionView,
    summary="Record my department's decision on its task",
)
async def decide(change: OwnTaskChange, body: DecisionRequest) -> DecisionView:
    decision = DecisionInput(
        department_code=change.department,
        outcome=body.outcome,
        reason=body.reason,
        missing_materials=body.missing_materials,
        **change.acting,
    )
    return DecisionView(**asdict(await change.update(JointApproval.decide, decision)))
