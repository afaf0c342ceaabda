"""An applicant's updates of an application: supplementary materials (补正), a withdrawal
(撤回), a rating (好差评). The workflow receives each through Kafka.

The three are one endpoint registered under three paths: each names its body model and
how that body becomes an `Update` of the application's matter.
"""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from opentelemetry import trace
from pydantic import BaseModel

from onceonly.catalogue import Matter
from onceonly.intake.api.dependencies import (
    REPLAYED_HEADER,
    ApplicationCodePath,
    IdempotencyKeyHeader,
    PostingIntegrator,
    Service,
    code_or_404,
    idempotency,
    json_answer,
)
from onceonly.intake.problems import documented
from onceonly.intake.schemas import RatingIn, SupplementIn, UpdateReceipt, WithdrawalIn
from onceonly.intake.submission import MaterialReference
from onceonly.intake.updates import (
    Update,
    validate_rating,
    validate_supplement,
    validate_withdrawal,
)
from onceonly.platform.telemetry import current_trace_headers

router = APIRouter(tags=["applications"])

B = TypeVar("B", bound=BaseModel)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Recorded; the workflow receives it through Kafka",
        "headers": {"Idempotent-Replayed": REPLAYED_HEADER},
    },
    **documented(401, 403, 404, 409, 413, 415, 422, 429, 503),
}


@dataclass(frozen=True, slots=True)
class _Kind(Generic[B]):
    """One kind of update: its body, and what it records."""

    body: type[B]
    build: Callable[[B, Matter], Update]
    materials: Callable[[B], tuple[MaterialReference, ...]] = lambda _: ()


def _materials(body: SupplementIn) -> tuple[MaterialReference, ...]:
    return tuple(MaterialReference(m.code, m.reference) for m in body.materials)


def _endpoint(kind: _Kind[B]) -> Callable[..., Awaitable[Response]]:
    """The endpoint that records an update of the kind `kind`."""
    body_model = kind.body

    async def endpoint(
        request: Request,
        integrator: PostingIntegrator,
        application_code: ApplicationCodePath,
        body: body_model,  # type: ignore[valid-type]
        service: Service,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        code = code_or_404(application_code)
        key = idempotency(request, idempotency_key, body)
        answer = await service.update(
            integrator_id=integrator.id,
            code=code,
            build=lambda matter: kind.build(body, matter),
            idempotency=key,
            trace_headers=current_trace_headers(),
            materials=kind.materials(body),
            by_agent=body.made_by == "agent",
        )
        trace.get_current_span().set_attribute("onceonly.application_code", code)
        return json_answer(answer, {})

    return endpoint


def _route(path: str, name: str, kind: _Kind[B], *, summary: str, description: str) -> None:
    # Named as the endpoints have always been: their operation ids stay.
    router.add_api_route(
        f"/v1/applications/{{application_code}}/{path}",
        _endpoint(kind),
        methods=["POST"],
        name=name,
        status_code=202,
        response_model=UpdateReceipt,
        summary=summary,
        description=description,
        responses=_RESPONSES,
    )


_route(
    "supplements",
    "provide_supplement",
    _Kind(
        SupplementIn,
        lambda body, matter: validate_supplement(_materials(body), matter),
        _materials,
    ),
    summary="Provide supplementary materials (补正)",
    description=(
        "Materials the departments asked for, or that were allowed to follow (容缺)."
        " Each code must be one of the matter's materials. Refused (409) once a"
        " withdrawal was requested."
    ),
)
_route(
    "withdrawal",
    "request_withdrawal",
    _Kind(WithdrawalIn, lambda body, _: validate_withdrawal(body.reason)),
    summary="Ask to withdraw an application (撤回)",
    description="Requested once; a second request is a 409.",
)
_route(
    "rating",
    "rate_application",
    _Kind(
        RatingIn,
        lambda body, matter: validate_rating(
            body.level, body.comment, matter=matter, department_code=body.department_code
        ),
    ),
    summary="Rate an application (好差评)",
    description=(
        "Five levels and an optional comment of at most 500 characters, once per"
        " application (a second rating is a 409). Offer it once the application is"
        " `completed`. Intake's status follows the approval a moment behind, so a"
        " rating is recorded whenever it comes; only ratings of completed"
        " applications are counted. `department_code` names the step rated (one of the"
        " matter's departments; by default its lead department): a rating of 1 or 2"
        " opens a rectification (差评整改) for that department."
    ),
)
