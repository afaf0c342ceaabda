"""The department API: staff list their department's tasks and decide them.

Every change is a Temporal Update whose validator rejects a wrong department, a task
already decided, or a closed application before anything is recorded.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path as PathLib
from typing import Annotated, Any, Literal

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Path
from pydantic import BaseModel, Field
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.auth import StaffIdentity, staff_dependency
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import Problem, health_router, install_problem_handlers
from onceonly.platform.metrics import ConsumerLagMonitor, instrument_api
from onceonly.workflow.bridge import consumer_group
from onceonly.workflow.clocks import days_left
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    ApplicationSnapshot,
    AssignmentInput,
    DecisionInput,
    DecisionResult,
    ErrorType,
    SpecialProcedureInput,
    SpecialProcedureKind,
    TaskActionResult,
    TaskSnapshot,
    TaskState,
)
from onceonly.workflow.temporal import connect

log = structlog.get_logger(__name__)

# A query waits for a worker; an application whose worker is away must not stall a list.
QUERY_TIMEOUT = timedelta(seconds=3)
CODE_PATTERN = r"^[A-Za-z0-9-]{6,40}$"
DEPARTMENT_PATTERN = r"^[a-z][a-z0-9-]{1,40}$"

_ERROR_STATUS = {
    ErrorType.WRONG_DEPARTMENT: 403,
    ErrorType.UNKNOWN_TASK: 404,
    ErrorType.TASK_NOT_OPEN: 409,
    ErrorType.APPLICATION_CLOSED: 409,
    ErrorType.INVALID_DECISION: 422,
    ErrorType.WRONG_REVIEWER: 403,
    ErrorType.SPECIAL_PROCEDURE: 409,
}


class DecisionRequest(BaseModel):
    outcome: Literal["approved", "rejected", "supplement_requested"]
    reason: str = Field(default="", max_length=2000)
    missing_materials: list[str] = Field(default_factory=list, max_length=50)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"outcome": "approved"},
                {"outcome": "rejected", "reason": "不符合《户口登记条例》第十条 / Art. 10 not met"},
            ]
        }
    }


class AssignmentRequest(BaseModel):
    """Leave `assignee` out to claim the task yourself; the head names a reviewer."""

    assignee: str | None = Field(default=None, min_length=1, max_length=64)


class SpecialProcedureRequest(BaseModel):
    kind: SpecialProcedureKind = SpecialProcedureKind.ON_SITE_INSPECTION
    note: str = Field(default="", max_length=2000)


class TaskActionView(BaseModel):
    application_code: str
    department_code: str
    task_state: str
    assignee: str
    special_procedure: str
    paused: bool


class TaskView(BaseModel):
    application_code: str
    matter_code: str
    department_code: str
    task_name: str
    state: str
    committed_days: int
    started_at: str
    due_at: str
    provisional: bool
    supervision_level: str = "none"
    paused: bool = False
    # Days of the matter's kind (working or natural) after today until due_at: 0 on the
    # due day, negative when overdue; null while the clock is paused.
    days_left: int | None = None
    assignee: str = ""
    special_procedure: str = ""


class DecisionView(BaseModel):
    application_code: str
    department_code: str
    task_state: str
    application_state: str


def _not_found(code: str) -> Problem:
    return Problem(
        404,
        "Application not found",
        f"No application {code} with a task of your department. 未找到该办件.",
        type_="https://onceonly.dev/problems/not-found",
    )


def _unavailable(code: str) -> Problem:
    return Problem(
        503,
        "Application state unavailable",
        f"The state of {code} cannot be read now; retry later. 暂时无法读取办件状态.",
        type_="https://onceonly.dev/problems/unavailable",
        headers={"Retry-After": "5"},
    )


def create_app(settings: WorkflowSettings, *, client: Client | None = None) -> FastAPI:
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, max_size=3)
        await prepare_database(pool, component="workflow", package="onceonly.workflow")
        state["pool"] = pool
        state["client"] = client or await connect(settings)
        yield
        await pool.close()

    app = FastAPI(
        title="Once-Only department API",
        version="1.0.0",
        description="Department staff list their tasks and record decisions (审批决定).",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    lag = ConsumerLagMonitor(settings.kafka_bootstrap, [consumer_group(settings)])
    instrument_api(
        app,
        service="workflow",
        background={"consumer-lag": lambda: lag.run(settings.metrics_refresh_seconds)},
    )
    staff = staff_dependency(
        settings.signing_secret.get_secret_value(), roles=("reviewer", "department_head")
    )
    Staff = Annotated[StaffIdentity, Depends(staff)]
    catalogue = default_catalogue()
    calendar = default_calendar(PathLib(settings.calendar_dir) if settings.calendar_dir else None)

    def left(matter_code: str, task: TaskSnapshot) -> int | None:
        matter = catalogue.matter(matter_code)
        if task.paused or matter is None:
            return None
        return days_left(calendar, matter.day_kind, task.due_at, datetime.now(UTC))

    def temporal() -> Client:
        return state["client"]  # type: ignore[return-value]

    async def health_check() -> dict[str, str]:
        pool: asyncpg.Pool = state["pool"]  # type: ignore[assignment]
        problems = await stale_components(
            pool,
            ["workflow-worker", "workflow-bridge"],
            max_age_seconds=settings.heartbeat_seconds * 5,
        )
        try:
            await temporal().service_client.check_health()
        except RPCError as exc:
            problems["temporal"] = str(exc)
        return problems

    app.include_router(health_router(health_check))

    async def snapshot(code: str) -> ApplicationSnapshot:
        try:
            handle = temporal().get_workflow_handle(code)
            return await handle.query(
                "snapshot", result_type=ApplicationSnapshot, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _not_found(code) from None
            log.warning("snapshot query failed", application_code=code, error=str(exc))
            raise _unavailable(code) from None
        except WorkflowQueryFailedError as exc:
            log.warning("snapshot query failed", application_code=code, error=str(exc))
            raise _unavailable(code) from None

    @app.get("/v1/tasks", response_model=list[TaskView], summary="Open tasks of my department")
    async def list_tasks(who: Staff) -> list[TaskView]:
        query = (
            f"Departments = '{who.department_code}' AND ExecutionStatus = 'Running'"
            if _safe(who.department_code)
            else None
        )
        if query is None:
            raise Problem(403, "Forbidden", "The token's department is not valid.")
        codes = [
            execution.id
            async for execution in temporal().list_workflows(query, limit=settings.task_list_limit)
        ]
        snapshots = await asyncio.gather(
            *(snapshot(code) for code in codes), return_exceptions=True
        )
        views: list[TaskView] = []
        for snap in snapshots:
            if isinstance(snap, Problem):
                # Closed between the list and the query, or its worker is away: one
                # application must not hide the department's other tasks.
                continue
            if isinstance(snap, BaseException):
                raise snap
            views.extend(
                TaskView(
                    application_code=snap.application_code,
                    matter_code=snap.matter_code,
                    days_left=left(snap.matter_code, task),
                    **asdict(task),
                )
                for task in snap.tasks
                if task.department_code == who.department_code and task.state == TaskState.OPEN
            )
        return views

    @app.get(
        "/v1/applications/{code}",
        summary="An application in which my department has a task",
    )
    async def get_application(
        who: Staff, code: Annotated[str, Path(pattern=CODE_PATTERN)]
    ) -> dict[str, object]:
        snap = await snapshot(code)
        if not any(task.department_code == who.department_code for task in snap.tasks):
            raise _not_found(code)
        return asdict(snap)

    @app.post(
        "/v1/applications/{code}/tasks/{department}/decision",
        response_model=DecisionView,
        summary="Record my department's decision on its task",
        responses={403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def decide(
        who: Staff,
        code: Annotated[str, Path(pattern=CODE_PATTERN)],
        department: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)],
        body: DecisionRequest,
    ) -> DecisionView:
        decision = DecisionInput(
            department_code=department,
            outcome=body.outcome,
            staff_id=who.staff_id,
            staff_department=who.department_code,
            reason=body.reason,
            missing_materials=body.missing_materials,
            staff_roles=list(who.roles),
        )
        result = await run_update(code, "decide", decision, DecisionResult)
        return DecisionView(**asdict(result))

    async def run_update(code: str, name: str, argument: object, result_type: type) -> Any:
        """A Temporal Update; its validator's refusal becomes a 4xx problem."""
        handle = temporal().get_workflow_handle(code)
        try:
            return await handle.execute_update(name, argument, result_type=result_type)
        except WorkflowUpdateFailedError as exc:
            raise _decision_problem(exc) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise await _closed_or_missing(temporal(), code) from None
            raise

    @app.post(
        "/v1/applications/{code}/tasks/{department}/assignment",
        response_model=TaskActionView,
        summary="Claim my department's task, or (department head) assign it to a reviewer",
        responses={403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def assign(
        who: Staff,
        code: Annotated[str, Path(pattern=CODE_PATTERN)],
        department: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)],
        body: AssignmentRequest,
    ) -> TaskActionView:
        request = AssignmentInput(
            department_code=department,
            assignee=body.assignee or who.staff_id,
            staff_id=who.staff_id,
            staff_department=who.department_code,
            staff_roles=list(who.roles),
        )
        result = await run_update(code, "assign", request, TaskActionResult)
        return TaskActionView(**asdict(result))

    @app.post(
        "/v1/applications/{code}/tasks/{department}/special-procedure",
        response_model=TaskActionView,
        summary="Start a special procedure (特别程序); the task's clock stops",
        responses={403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def start_special_procedure(
        who: Staff,
        code: Annotated[str, Path(pattern=CODE_PATTERN)],
        department: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)],
        body: SpecialProcedureRequest,
    ) -> TaskActionView:
        request = _procedure(who, department, body)
        result = await run_update(code, "start_special_procedure", request, TaskActionResult)
        return TaskActionView(**asdict(result))

    @app.post(
        "/v1/applications/{code}/tasks/{department}/special-procedure/end",
        response_model=TaskActionView,
        summary="End the special procedure; the clock runs again, moved by its days",
        responses={403: {}, 404: {}, 409: {}, 422: {}},
    )
    async def end_special_procedure(
        who: Staff,
        code: Annotated[str, Path(pattern=CODE_PATTERN)],
        department: Annotated[str, Path(pattern=DEPARTMENT_PATTERN)],
        body: SpecialProcedureRequest,
    ) -> TaskActionView:
        request = _procedure(who, department, body)
        result = await run_update(code, "end_special_procedure", request, TaskActionResult)
        return TaskActionView(**asdict(result))

    return app


def _procedure(
    who: StaffIdentity, department: str, body: SpecialProcedureRequest
) -> SpecialProcedureInput:
    return SpecialProcedureInput(
        department_code=department,
        staff_id=who.staff_id,
        staff_department=who.department_code,
        kind=body.kind.value,
        note=body.note,
        staff_roles=list(who.roles),
    )


def _safe(department: str) -> bool:
    # The department goes into a visibility query: allow only the catalogue's shape.
    return re.fullmatch(DEPARTMENT_PATTERN, department) is not None


def _decision_problem(exc: WorkflowUpdateFailedError) -> Problem:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in _ERROR_STATUS:
        kind = ErrorType(cause.type)
        return Problem(
            _ERROR_STATUS[kind],
            kind.value,
            cause.message,
            type_=f"https://onceonly.dev/problems/{kind.value}",
        )
    log.warning("decision update failed", error=str(exc))
    return Problem(409, "Decision not recorded", "The application did not accept the decision.")


async def _closed_or_missing(client: Client, code: str) -> Problem:
    try:
        description = await client.get_workflow_handle(code).describe()
    except RPCError:
        return _not_found(code)
    if description.status != WorkflowExecutionStatus.RUNNING:
        return Problem(
            409,
            ErrorType.APPLICATION_CLOSED.value,
            f"Application {code} is closed. 办件已办结或已撤回.",
            type_=f"https://onceonly.dev/problems/{ErrorType.APPLICATION_CLOSED.value}",
        )
    return _not_found(code)
