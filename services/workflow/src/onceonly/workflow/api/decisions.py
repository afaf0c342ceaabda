"""A department's decision (审批决定) on its task of an application."""

from dataclasses import asdict

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
from onceonly.workflow.api.models import DecisionRequest, DecisionView
from onceonly.workflow.shared import DecisionInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH, responses=TASK_CHANGE_RESPONSES)


@router.post(
    "/decision",
    response_model=DecisionView,
    summary="Record my department's decision on its task",
)
async def decide(
    who: Staff,
    code: Code,
    department: Department,
    application: OwnTask,
    body: DecisionRequest,
    workflows: Workflows,
) -> DecisionView:
    decision = DecisionInput(
        department_code=department,
        outcome=body.outcome,
        reason=body.reason,
        missing_materials=body.missing_materials,
        **acting(who),
    )
    result = await workflows.update(application, JointApproval.decide, decision)
    return DecisionView(**asdict(result))
