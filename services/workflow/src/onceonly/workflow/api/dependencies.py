"""What the department API's routes depend on, typed: the signed-in staff (department
staff, or operators for the codec endpoint), the applications' workflows, Temporal's
payload codec, the settings, the days left of a task, and the path parameters.

`create_app` puts one `DepartmentState` on `app.state.department`; its lifespan adds the
database pool and the Temporal client. Routes reach it only through these dependencies.
"""

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Path, Request
from temporalio.client import Client

from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.catalogue.model import Catalogue
from onceonly.platform.auth import StaffIdentity, in_region, sees_every_application
from onceonly.platform.kafka import build_producer
from onceonly.platform.kafka_ports import Producer
from onceonly.workflow.access import may_reach, may_review
from onceonly.workflow.api.models import TaskActionView
from onceonly.workflow.api.workflow_client import (
    DEPARTMENT_PATTERN,
    ApplicationReach,
    ApplicationWorkflows,
    not_found,
)
from onceonly.workflow.clocks import days_left
from onceonly.workflow.elicences import ELicenceStore, PostgresELicenceStore
from onceonly.workflow.payload_codec import EncryptionCodec
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import TaskSnapshot
from onceonly.workflow.task_list import PostgresTaskList

CODE_PATTERN = r"^[A-Za-z0-9-]{6,40}$"

Authenticate = Callable[[Request], Coroutine[Any, Any, StaffIdentity]]


@dataclass(frozen=True, slots=True)
class DaysLeft:
    """Days of a task's matter's kind (working or natural) after today until it is due:
    0 on the due day, negative when overdue; None while its clock is paused."""

    catalogue: Catalogue
    calendar: WorkingCalendar

    def __call__(self, matter_code: str, task: TaskSnapshot) -> int | None:
        matter = self.catalogue.matter(matter_code)
        if task.paused or matter is None:
            return None
        return days_left(self.calendar, matter.day_kind, task.due_at, datetime.now(UTC))


@dataclass(slots=True)
class DepartmentState:
    """What the routes share, built by `create_app`."""

    settings: WorkflowSettings
    authenticate: Authenticate
    days_left: DaysLeft
    authenticate_operator: Authenticate  # operations and supervision staff (codec endpoint)
    codec: EncryptionCodec
    client: Client | None = None  # connected by the lifespan unless given
    pool: asyncpg.Pool | None = None  # opened by the lifespan
    # Revocations only: the store, and a producer started at the first one (so that the
    # API starts, and serves tasks, while Kafka is away). Tests give both.
    elicence_store: ELicenceStore | None = None
    producer: Producer | None = None

    async def elicence_clients(self) -> tuple[ELicenceStore, Producer]:
        if self.elicence_store is None:
            assert self.pool is not None  # opened by the lifespan
            self.elicence_store = PostgresELicenceStore(self.pool)
        if self.producer is None:
            bootstrap = self.settings.kafka_bootstrap
            producer = build_producer(bootstrap, client_id="onceonly-workflow-api")
            await producer.start()
            self.producer = producer
        return self.elicence_store, self.producer


def acting(who: StaffIdentity) -> dict[str, Any]:
    """Who acts, as every workflow input names them (staff_id, staff_department,
    staff_roles): the workflow's validators check the department and the roles."""
    return {
        "staff_id": who.staff_id,
        "staff_department": who.department_code,
        "staff_roles": list(who.roles),
    }


def department_state(request: Request) -> DepartmentState:
    return request.app.state.department


State = Annotated[DepartmentState, Depends(department_state)]


def workflow_settings(state: State) -> WorkflowSettings:
    return state.settings


async def current_staff(request: Request, state: State) -> StaffIdentity:
    """The bearer token's reviewer or department head (401, 403 problems)."""
    return await state.authenticate(request)


async def current_operator(request: Request, state: State) -> StaffIdentity:
    """The bearer token's operations or supervision staff (401, 403 problems)."""
    return await state.authenticate_operator(request)


def payload_codec(state: State) -> EncryptionCodec:
    return state.codec


def application_workflows(state: State) -> ApplicationWorkflows:
    assert state.client is not None  # the lifespan connects before requests are served
    return ApplicationWorkflows(state.client)


def task_list(state: State) -> PostgresTaskList:
    assert state.pool is not None  # opened by the lifespan
    return PostgresTaskList(state.pool)


def task_days_left(state: State) -> DaysLeft:
    return state.days_left


def catalogue(state: State) -> Catalogue:
    return state.days_left.catalogue


Settings = Annotated[WorkflowSettings, Depends(workflow_settings)]
Staff = Annotated[StaffIdentity, Depends(current_staff)]
Operator = Annotated[StaffIdentity, Depends(current_operator)]
Codec = Annotated[EncryptionCodec, Depends(payload_codec)]
Workflows = Annotated[ApplicationWorkflows, Depends(application_workflows)]
TaskDaysLeft = Annotated[DaysLeft, Depends(task_days_left)]
TaskList = Annotated[PostgresTaskList, Depends(task_list)]
MatterCatalogue = Annotated[Catalogue, Depends(catalogue)]

Code = Annotated[str, Path(pattern=CODE_PATTERN)]
Department = Annotated[str, Path(pattern=DEPARTMENT_PATTERN)]


async def reached(
    who: StaffIdentity,
    code: str,
    workflows: ApplicationWorkflows,
    catalogue: Catalogue,
    *,
    task_department: str | None = None,
    lead_operation: bool = False,
) -> ApplicationReach:
    """The application `code` (and `task_department`'s task of it) if `who` may reach it
    (access.may_reach), else the one 404 of every "not yours".

    Each answer costs the same one call to the Temporal server (a description, which the
    worker takes no part in) whether the application exists or not. Only for a closed
    application does a department of its matter also have its snapshot queried: the
    description names the matter's departments, not who really had a task (an
    application refused at acceptance had none)."""
    found = await workflows.reach(code)
    matter = catalogue.matter(found.matter_code) if found is not None else None
    # 行政区划: staff of a division reach what is decided there and under it (before
    # jurisdictions: by the code's region).
    if found is not None and not in_region(who, found.region or code[:6]):
        raise not_found()
    if found is None or not may_reach(
        who,
        departments=found.departments,
        lead_department=matter.lead_department if matter is not None else None,
        task_department=task_department,
        lead_operation=lead_operation,
    ):
        raise not_found()
    if not found.running and not sees_every_application(who):
        snap = await workflows.snapshot(code)
        if all(task.department_code != who.department_code for task in snap.tasks):
            raise not_found()
    return found


async def in_application(
    who: Staff, code: Code, workflows: Workflows, catalogue: MatterCatalogue
) -> ApplicationReach:
    """An application in which the caller's department has or had a task."""
    return await reached(who, code, workflows, catalogue)


async def own_task(
    who: Staff, code: Code, department: Department, workflows: Workflows, catalogue: MatterCatalogue
) -> ApplicationReach:
    """The caller's own department's task (the path's department) of an application."""
    return await reached(who, code, workflows, catalogue, task_department=department)


async def task_for_lead(
    who: Staff, code: Code, department: Department, workflows: Workflows, catalogue: MatterCatalogue
) -> ApplicationReach:
    """Any department's task of an application, for the matter's lead department."""
    return await reached(
        who, code, workflows, catalogue, task_department=department, lead_operation=True
    )


async def at_window(who: Staff, code: Code, workflows: Workflows) -> ApplicationReach:
    """An application, for window staff (the same 404 as any "not yours" for others)."""
    found = await workflows.reach(code)
    if found is None or not may_review(who):
        raise not_found()
    return found


Application = Annotated[ApplicationReach, Depends(in_application)]
AtWindow = Annotated[ApplicationReach, Depends(at_window)]
OwnTask = Annotated[ApplicationReach, Depends(own_task)]
LeadTask = Annotated[ApplicationReach, Depends(task_for_lead)]

# One department's task of an application, and what a change to it may answer.
TASK_PATH = "/v1/applications/{code}/tasks/{department}"
TASK_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}


@dataclass(frozen=True, slots=True)
class Change:
    """A change that the signed-in staff member asks of an application's workflow (a
    Temporal Update): who acts, on which application they may reach, and which
    department's task when the path names one."""

    who: StaffIdentity
    application: ApplicationReach
    workflows: ApplicationWorkflows
    department: str = ""

    @property
    def acting(self) -> dict[str, Any]:
        return acting(self.who)

    async def update(self, update: Callable[..., Awaitable[Any]], argument: Any) -> Any:
        return await self.workflows.update(self.application, update, argument)

    async def task_action(
        self, update: Callable[..., Awaitable[Any]], argument: Any
    ) -> TaskActionView:
        return await self.workflows.task_action(self.application, update, argument)


# `code` and `department` are named first so that the OpenAPI document lists the path's
# parameters in its order.
async def own_task_change(
    code: Code, department: Department, who: Staff, application: OwnTask, workflows: Workflows
) -> Change:
    return Change(who, application, workflows, department)


async def lead_task_change(
    code: Code, department: Department, who: Staff, application: LeadTask, workflows: Workflows
) -> Change:
    return Change(who, application, workflows, department)


async def application_change(
    code: Code, who: Staff, application: Application, workflows: Workflows
) -> Change:
    return Change(who, application, workflows)


async def window_change(
    code: Code, who: Staff, application: AtWindow, workflows: Workflows
) -> Change:
    return Change(who, application, workflows)


OwnTaskChange = Annotated[Change, Depends(own_task_change)]
LeadTaskChange = Annotated[Change, Depends(lead_task_change)]
ApplicationChange = Annotated[Change, Depends(application_change)]
WindowChange = Annotated[Change, Depends(window_change)]
