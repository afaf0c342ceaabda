"""The department's 12345 work orders: `GET /v1/work-orders` lists them, paged, from the
list the publishing activity keeps (`onceonly.workflow.work_order_list`: one read, no
Temporal query per order); sign for one, reply to it and record the caller's callback
(回访), each a Temporal Update of its HotlineWorkOrder workflow, whose validator has the
last word. Another department's order is the same 404 as an unknown one; a role that does
not handle orders (the window) is a 403."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from onceonly.platform.auth import StaffIdentity
from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import Staff, State, Workflows, acting
from onceonly.workflow.api.paging import cursor_after, position
from onceonly.workflow.api.workflow_client import ApplicationReach, not_found
from onceonly.workflow.work_order_list import PostgresWorkOrderList
from onceonly.workflow.work_order_shared import CallbackInput, ReplyInput, SignInput, WorkOrderView
from onceonly.workflow.work_order_workflow import HotlineWorkOrder
from onceonly.workflow.work_orders import HANDLING_ROLES, MAX_COMMENT, MAX_REPLY

router = APIRouter(tags=["work orders"])
ORDER_PATH = "/v1/work-orders/{order_code}"
_CHANGE_RESPONSES: dict[int | str, dict[str, object]] = {403: {}, 404: {}, 409: {}, 422: {}}

OrderCode = Annotated[str, Path(pattern=r"^WO[0-9]{6}-[0-9]{8}-[0-9]{6}$")]


def work_order_list(state: State) -> PostgresWorkOrderList:
    assert state.pool is not None  # opened by the lifespan
    return PostgresWorkOrderList(state.pool)


Orders = Annotated[PostgresWorkOrderList, Depends(work_order_list)]


def handler(who: Staff) -> StaffIdentity:
    """Department staff who handle orders: reviewers and department heads (403 else)."""
    if not HANDLING_ROLES.intersection(who.roles):
        raise Problem(403, "Forbidden", "Only reviewers and department heads handle work orders.")
    return who


Handler = Annotated[StaffIdentity, Depends(handler)]


class WorkOrderOut(BaseModel):
    order_code: str
    kind: str
    department_code: str
    attached_application_code: str
    status: str
    round: int
    level: str
    filed_at: str
    sign_due_at: datetime | None
    reply_due_at: datetime | None
    signed_at: datetime | None
    answered_at: datetime | None
    reply: str
    satisfied: bool | None
    caller_mobile_masked: str
    hotline_reference: str


class WorkOrderPage(BaseModel):
    items: list[WorkOrderOut]
    next_cursor: str | None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: str = Field(min_length=1, max_length=MAX_REPLY)


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    satisfied: bool
    comment: str = Field(default="", max_length=MAX_COMMENT)


def _out(view: WorkOrderView) -> WorkOrderOut:
    fields = asdict(view)
    fields.pop("version")
    return WorkOrderOut(**fields)


@router.get("/v1/work-orders", response_model=WorkOrderPage, summary="My department's work orders")
async def list_work_orders(
    who: Handler,
    orders: Orders,
    status: Literal["open", "signed", "answered", "closed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WorkOrderPage:
    rows = await orders.page(
        who.department_code, status=status, after=position(cursor), limit=limit + 1
    )
    page = rows[:limit]
    return WorkOrderPage(
        items=[_out(view) for view in page],
        next_cursor=(
            cursor_after(page[-1].filed_at, page[-1].order_code) if len(rows) > limit else None
        ),
    )


async def _own_order(
    who: StaffIdentity, code: str, orders: PostgresWorkOrderList
) -> ApplicationReach:
    department = await orders.department_of(code)
    if department is None or department != who.department_code:
        raise not_found()
    return ApplicationReach(code=code, matter_code="", departments=(department,), running=True)


@router.post(ORDER_PATH + "/sign", response_model=WorkOrderOut, responses=_CHANGE_RESPONSES)
async def sign(
    who: Handler, order_code: OrderCode, orders: Orders, workflows: Workflows
) -> WorkOrderOut:
    """Sign for the order (签收): its handling clock starts."""
    reach = await _own_order(who, order_code, orders)
    view = await workflows.update(reach, HotlineWorkOrder.sign, SignInput(**acting(who)))
    return _out(view)


@router.post(ORDER_PATH + "/reply", response_model=WorkOrderOut, responses=_CHANGE_RESPONSES)
async def reply(
    who: Handler, order_code: OrderCode, body: ReplyIn, orders: Orders, workflows: Workflows
) -> WorkOrderOut:
    """The department's answer (答复); the caller is told by SMS."""
    reach = await _own_order(who, order_code, orders)
    view = await workflows.update(
        reach, HotlineWorkOrder.reply, ReplyInput(**acting(who), reply=body.reply)
    )
    return _out(view)


@router.post(ORDER_PATH + "/callback", response_model=WorkOrderOut, responses=_CHANGE_RESPONSES)
async def callback(
    who: Handler, order_code: OrderCode, body: CallbackIn, orders: Orders, workflows: Workflows
) -> WorkOrderOut:
    """The callback's result (回访): satisfied closes the order, not satisfied reopens it."""
    reach = await _own_order(who, order_code, orders)
    view = await workflows.update(
        reach,
        HotlineWorkOrder.record_callback,
        CallbackInput(**acting(who), satisfied=body.satisfied, comment=body.comment),
    )
    return _out(view)
