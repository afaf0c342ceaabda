"""Special procedures (特别程序: expert review, hearing, public notice, on-site
inspection): their days do not count against the task's time limit. Starting one stops
the task's clock; ending it runs the clock again, its due date moved by those days.

Start and end are one endpoint under two paths, each calling its own workflow Update.
"""

from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import TASK_CHANGE_RESPONSES, TASK_PATH, OwnTaskChange
from onceonly.workflow.api.models import SpecialProcedureRequest, TaskActionView
from onceonly.workflow.shared import SpecialProcedureInput, TaskActionResult
from onceonly.workflow.workflows import JointApproval

router = APIRouter(prefix=TASK_PATH, responses=TASK_CHANGE_RESPONSES)

Endpoint = Callable[..., Awaitable[TaskActionView]]
Update = Callable[[JointApproval, SpecialProcedureInput], Awaitable[TaskActionResult]]


def _endpoint(update: Update) -> Endpoint:
    """The endpoint that asks the application's workflow for the Update `update`."""

    async def endpoint(change: OwnTaskChange, body: SpecialProcedureRequest) -> TaskActionView:
        request = SpecialProcedureInput(
            department_code=change.department,
            kind=body.kind.value,
            note=body.note,
            **change.acting,
        )
        return await change.task_action(update, request)

    return endpoint


def _route(path: str, update: Update, summary: str) -> None:
    # Named after the Update, as its operation id has always been.
    router.add_api_route(
        path,
        _endpoint(update),
        methods=["POST"],
        name=update.__name__,
        response_model=TaskActionView,
        summary=summary,
    )


_route(
    "/special-procedure",
    JointApproval.start_special_procedure,
    "Start a special procedure (特别程序); the task's clock stops",
)
_route(
    "/special-procedure/end",
    JointApproval.end_special_procedure,
    "End the special procedure; the clock runs again, moved by its days",
)
