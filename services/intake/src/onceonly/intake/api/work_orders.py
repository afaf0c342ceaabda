"""`POST /v1/work-orders`: the 12345 hotline files a work order (工单) — a complaint,
consultation or request — for the department concerned, optionally about an application.
Only an integrator with the `hotline` capability may (403 otherwise)."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from onceonly.intake.api.dependencies import (
    REPLAYED_HEADER,
    IdempotencyKeyHeader,
    PostingIntegrator,
    Service,
    idempotency,
    json_answer,
)
from onceonly.intake.problems import documented
from onceonly.intake.schemas import WorkOrderIn, WorkOrderReceipt
from onceonly.intake.work_orders import WorkOrderDraft
from onceonly.platform.telemetry import current_trace_headers

router = APIRouter(tags=["work orders"])


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
    key = idempotency(request, idempotency_key, body)
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
