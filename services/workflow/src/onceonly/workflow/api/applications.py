"""`/v1/applications/{code}`: an application in which the staff's department has or had a
task (the lead department's included: it sees every department's opinion)."""

from dataclasses import asdict

from fastapi import APIRouter

from onceonly.platform.auth import sees_every_application
from onceonly.workflow.api.dependencies import Application, Code, Staff, Workflows
from onceonly.workflow.api.workflow_client import not_found

router = APIRouter()


@router.get(
    "/v1/applications/{code}",
    summary="An application in which my department has a task",
    responses={404: {}},
)
async def get_application(
    who: Staff, code: Code, application: Application, workflows: Workflows
) -> dict[str, object]:
    snap = await workflows.snapshot(application.code)
    # The server names the matter's departments; the snapshot, whose tasks really started
    # (none for an application refused at acceptance).
    if not sees_every_application(who) and all(
        task.department_code != who.department_code for task in snap.tasks
    ):
        raise not_found()
    return asdict(snap)
