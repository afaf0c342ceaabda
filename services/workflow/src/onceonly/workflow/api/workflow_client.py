"""The running applications as the department API reads and changes them: the server's
description of an application (who takes part in it, whether it runs), a Temporal query
for its snapshot, an Update for every change. Temporal's failures become problems here,
and nowhere else."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TypeVar

import structlog
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from onceonly.platform.http import Problem
from onceonly.workflow.api.models import TaskActionView
from onceonly.workflow.shared import ApplicationSnapshot, ErrorType, TaskActionResult
from onceonly.workflow.workflows import COMPETENT_REGION, DEPARTMENTS, MATTER_CODE, JointApproval

log = structlog.get_logger(__name__)

A = TypeVar("A")
R = TypeVar("R")

# A query waits for a worker; an application whose worker is away must not stall a list.
QUERY_TIMEOUT = timedelta(seconds=3)
DEPARTMENT_PATTERN = r"^[a-z][a-z0-9-]{1,40}$"
# Visibility is eventually consistent already (about a second); the task list's running
# applications may be this much older, in exchange for one query per department.
RUNNING_TTL = 2.0
_RUNNING: dict[tuple[int, str], tuple[float, asyncio.Future[list[tuple[str, str]]]]] = {}

# Another department's task and a task the application does not have are "not found",
# the answer for an unknown application (not_found), whatever the validator said.
NOT_YOURS = frozenset({ErrorType.WRONG_DEPARTMENT, ErrorType.UNKNOWN_TASK})
_ERROR_STATUS = {
    ErrorType.TASK_NOT_OPEN: 409,
    ErrorType.APPLICATION_CLOSED: 409,
    ErrorType.INVALID_DECISION: 422,
    ErrorType.WRONG_REVIEWER: 403,
    ErrorType.SPECIAL_PROCEDURE: 409,
    ErrorType.NOT_LEAD: 403,
    ErrorType.TASK_EXISTS: 409,
    ErrorType.EXTENSION: 409,
    ErrorType.NOT_AT_ACCEPTANCE: 409,
    ErrorType.WRONG_ROLE: 403,
}


@dataclass(frozen=True, slots=True)
class ApplicationReach:
    """What the Temporal server itself tells of an application, without its worker: the
    departments of its matter's tasks and any added one (the `Departments` search
    attribute, set when the matter is resolved and when a department is added; a removed
    one stays), its matter, and whether its workflow still runs."""

    code: str
    matter_code: str
    departments: tuple[str, ...]
    running: bool
    # The division that decides it; "" for applications from before jurisdictions.
    region: str = ""


class ApplicationWorkflows:
    """The applications' workflows, through one Temporal client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def running_for(self, department: str, *, limit: int) -> list[tuple[str, str]]:
        """The running applications in which `department` has a task: each code with the
        division that decides it ("" before jurisdictions)."""
        # The department goes into a visibility query: allow only the catalogue's shape.
        if re.fullmatch(DEPARTMENT_PATTERN, department) is None:
            raise Problem(403, "Forbidden", "The token's department is not valid.")
        query = f"Departments = '{department}' AND ExecutionStatus = 'Running'"
        return [
            (execution.id, execution.typed_search_attributes.get(COMPETENT_REGION) or "")
            async for execution in self._client.list_workflows(query, limit=limit)
        ]

    async def running_for_shared(self, department: str, *, limit: int) -> list[tuple[str, str]]:
        """`running_for`, one visibility query per department per RUNNING_TTL seconds,
        shared by the calls that come meanwhile (the server's visibility store answers
        them one at a time: 20 list calls at once cost 20 queries in a row otherwise)."""
        now = time.monotonic()
        cached = _RUNNING.get((id(self._client), department))
        if cached is None or cached[0] < now:
            pending = asyncio.ensure_future(self.running_for(department, limit=limit))
            cached = (now + RUNNING_TTL, pending)
            _RUNNING[(id(self._client), department)] = cached
            if len(_RUNNING) > 1000:  # departments are few; bound it anyway
                _RUNNING.clear()
        try:
            return list(await asyncio.shield(cached[1]))
        except BaseException:
            _RUNNING.pop((id(self._client), department), None)  # a failure is not cached
            raise

    async def reach(self, code: str) -> ApplicationReach | None:
        """The application as the server describes it; None if there is none (503 problem
        if the server cannot say). One call to the server whether the application exists
        or not, so that the answer's timing tells nothing either."""
        try:
            described = await self._client.get_workflow_handle(code).describe(
                rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            log.warning("describe failed", application_code=code, error=str(exc))
            raise _unavailable(code) from None
        attributes = described.typed_search_attributes
        return ApplicationReach(
            code=code,
            matter_code=attributes.get(MATTER_CODE) or "",
            departments=tuple(attributes.get(DEPARTMENTS) or ()),
            running=described.status == WorkflowExecutionStatus.RUNNING,
            region=attributes.get(COMPETENT_REGION) or "",
        )

    async def snapshot(self, code: str) -> ApplicationSnapshot:
        """The application's state as its workflow answers it (404 or 503 problems)."""
        try:
            handle = self._client.get_workflow_handle(code)
            return await handle.query(JointApproval.snapshot, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise not_found() from None
            log.warning("snapshot query failed", application_code=code, error=str(exc))
            raise _unavailable(code) from None
        except WorkflowQueryFailedError as exc:
            log.warning("snapshot query failed", application_code=code, error=str(exc))
            raise _unavailable(code) from None
        except (KeyError, TypeError, ValueError) as exc:
            # The answer could not be decoded: written with a payload codec or a version
            # this client does not have (`Unknown payload encoding ...`). One such
            # application is a 503 of its own, and is skipped in a task list, not a 500.
            log.warning("snapshot not decoded", application_code=code, error=type(exc).__name__)
            raise _unavailable(code) from None

    async def update(
        self,
        reach: ApplicationReach,
        update: Callable[[JointApproval, A], Awaitable[R]],
        argument: A,
    ) -> R:
        """A Temporal Update of JointApproval (by reference: `JointApproval.decide`) on an
        application the caller reaches (dependencies.reached); its validator's refusal
        becomes a 4xx problem."""
        code = reach.code
        if not reach.running:
            raise closed(code)
        handle = self._client.get_workflow_handle(code)
        try:
            return await handle.execute_update(update, argument)
        except WorkflowUpdateFailedError as exc:
            raise _refused(exc) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise await self._closed_or_missing(code) from None
            raise

    async def task_action(
        self,
        reach: ApplicationReach,
        update: Callable[[JointApproval, A], Awaitable[TaskActionResult]],
        argument: A,
    ) -> TaskActionView:
        """An Update that changes one task (`update`), answered as the task's view."""
        return TaskActionView(**asdict(await self.update(reach, update, argument)))

    async def _closed_or_missing(self, code: str) -> Problem:
        """After the server no longer found a workflow it had described (it closed)."""
        try:
            description = await self._client.get_workflow_handle(code).describe()
        except RPCError:
            return not_found()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return closed(code)
        return not_found()


def not_found() -> Problem:
    """The one answer for an unknown application, one in which the caller's department
    has no task, and another department's task: the same status and body (it does not
    even repeat the code, which the request's path already holds as `instance`)."""
    return Problem(
        404,
        "Application not found",
        "No application by this code with a task of your department. 未找到该办件.",
        type_="https://onceonly.dev/problems/not-found",
    )


def closed(code: str) -> Problem:
    """An application of the caller's department that has closed."""
    return Problem(
        409,
        ErrorType.APPLICATION_CLOSED.value,
        f"Application {code} is closed. 办件已办结或已撤回.",
        type_=f"https://onceonly.dev/problems/{ErrorType.APPLICATION_CLOSED.value}",
    )


def _unavailable(code: str) -> Problem:
    return Problem(
        503,
        "Application state unavailable",
        f"The state of {code} cannot be read now; retry later. 暂时无法读取办件状态.",
        type_="https://onceonly.dev/problems/unavailable",
        headers={"Retry-After": "5"},
    )


def _refused(exc: WorkflowUpdateFailedError) -> Problem:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type in NOT_YOURS:
        return not_found()
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
