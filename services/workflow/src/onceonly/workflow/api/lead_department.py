"""The lead department's operations (牵头部门): return an opinion for re-review (退回重审),
add a department (加签) or remove an undecided one (减签), call a joint on-site
inspection (联合踏勘; each attending department records its finding by ending its special
procedure)."""

from dataclasses import asdict

from fastapi import APIRouter

from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import (
    TASK_CHANGE_RESPONSES,
    TASK_PATH,
    ApplicationChange,
    LeadTaskChange,
    MatterCatalogue,
)
from onceonly.workflow.api.models import (
    DepartmentAddition,
    DepartmentRemoval,
    JointInspectionRequest,
    JointInspectionView,
    ReturnRequest,
    TaskActionView,
)
from onceonly.workflow.shared import DepartmentChangeInput, JointInspectionInput, ReturnInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(responses=TASK_CHANGE_RESPONSES)


@router.post(
    TASK_PATH + "/return",
    response_model=TaskActionView,
    summary="Return a department's approved opinion for re-review (lead department)",
)
async def return_decision(change: LeadTaskChange, body: ReturnRequest) -> TaskActionView:
    request = ReturnInput(department_code=change.department, reason=body.reason, **change.acting)
    return await change.task_action(JointApproval.return_decision, request)


@router.post(
    "/v1/applications/{code}/departments",
    response_model=TaskActionView,
    summary="Add a department to a running application (lead department or supervision)",
)
async def add_department(
    change: ApplicationChange, body: DepartmentAddition, catalogue: MatterCatalogue
) -> TaskActionView:
    if catalogue.department(body.department_code) is None:
        raise Problem(
            422,
            "Unknown department",
            f"{body.department_code} is not a department of the catalogue. 部门不存在.",
        )
    request = DepartmentChangeInput(
        department_code=body.department_code,
        reason=body.reason,
        **change.acting,
        task_name=body.task_name,
        committed_days=body.committed_days,
    )
    return await change.task_action(JointApproval.add_department, request)


@router.post(
    TASK_PATH + "/removal",
    response_model=TaskActionView,
    summary="Remove an undecided department (lead department or supervision)",
)
async def remove_department(change: LeadTaskChange, body: DepartmentRemoval) -> TaskActionView:
    request = DepartmentChangeInput(
        department_code=change.department, reason=body.reason, **change.acting
    )
    return await change.task_action(JointApproval.remove_department, request)


@router.post(
    "/v1/applications/{code}/inspections",
    response_model=JointInspectionView,
    summary="Call a joint on-site inspection of several departments (lead department)",
)
async def start_joint_inspection(
    change: ApplicationChange, body: JointInspectionRequest
) -> JointInspectionView:
    request = JointInspectionInput(
        department_codes=list(body.department_codes), note=body.note, **change.acting
    )
    result = await change.update(JointApproval.start_joint_inspection, request)
    return JointInspectionView(**asdict(result))
