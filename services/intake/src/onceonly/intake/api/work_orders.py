"""`POST /v1/work-orders`: the 12345 hotline files a work order (工单) — a complaint,
consultation or request — for the department concerned, optionally about an application.
Only an integrator with the `hotline` capability may (403 otherwise)."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from onceonly.intake.api.dependencies import (
    REPLAYED_HEADER,
    IdempotencyKeyHeader,
    PostingIntegrator,
    Service,
    idempotency,
    json_answer,
)
from onceonly.intake.problems import documented
from onceonly.intake.schemas import Text
from onceonly.intake.work_orders import WorkOrderDraft
from onceonly.platform.telemetry import current_trace_headers

router = APIRouter(tags=["work orders"])


class CallerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100, description="The caller's name")
    mobile: Text = Field(min_length=1, max_length=20, description="Mainland mobile, 11 digits")


class WorkOrderIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "complaint",
                    "content": "办件超期未办结",
                    "caller": {"name": "张三", "mobile": "13800138000"},
                    "application_code": "330100-20250303-0004276",
                    "hotline_reference": "12345-20250305-0001",
                }
            ]
        },
    )

    kind: Literal["complaint", "consultation", "request"]
    content: Text = Field(min_length=1, max_length=4000, description="What the caller said")
    caller: CallerIn
    application_code: Text | None = Field(
        default=None, min_length=6, max_length=40, description="The application it concerns"
    )
    department_code: Text | None = Field(
        default=None,
        min_length=2,
        max_length=41,
        description="The department concerned; default: the application's lead department",
    )
    hotline_reference: Text = Field(default="", max_length=64)
    language: Literal["zh", "en"] = "zh"


class CallerView(BaseModel):
    name: str
    mobile: str


class WorkOrderReceipt(BaseModel):
    order_code: str
    kind: str
    department_code: str
    application_code: str | None
    caller: CallerView  # masked
    filed_at: str


_RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Filed; its workflow starts through Kafka",
        "headers": {"Idempotent-Replayed": REPLAYED_HEADER},
    },
    **documented(401, 403, 409, 413, 415, 422, 429, 503),
}


@router.post(
    "/v1/work-orders",
    status_code=201,
    response_model=WorkOrderReceipt,
    summary="File a 12345 hotline work order (工单)",
    responses=_RESPONSES,
)
async def file_work_order(
    request: Request,
    integrator: PostingIntegrator,
    body: WorkOrderIn,
    service: Service,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency(request, idempotency_key, body.model_dump(mode="json"))
    answer = await service.file_work_order(
        integrator_id=integrator.id,
        draft=WorkOrderDraft(
            kind=body.kind,
            content=body.content,
            caller_name=body.caller.name,
            caller_mobile=body.caller.mobile,
            department_code=body.department_code,
            application_code=body.application_code,
            hotline_reference=body.hotline_reference,
            language=body.language,
        ),
        idempotency=key,
        trace_headers=current_trace_headers(),
    )
    return json_answer(answer, {"Location": f"/v1/work-orders/{answer.body['order_code']}"})
