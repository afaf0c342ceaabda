"""`/v1/applications/{code}`: an application in which the staff's department has a task."""

from dataclasses import asdict

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import Code, Staff, Workflows
from onceonly.workflow.api.workflow_client import not_found

router = APIRouter()


@router.get(
    "/v1/applications/{code}",
    summary="An application in which my department has a task",
)
async def get_application(who: Staff, code: Code, workflows: Workflows) -> dict[str, object]:
    snap = await workflows.snapshot(code)
    if not any(task.department_code == who.department_code for task in snap.tasks):
        raise not_found(code)
    return asdict(snap)
