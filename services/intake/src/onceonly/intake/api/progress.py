"""The citizens' progress lookup (办件进度查询): no API key, limited per client address."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Annotated

from fastapi import APIRouter, Query, Request

from onceonly.intake import metrics
from onceonly.intake.api.dependencies import MatterCatalogue, Service, State
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.errors import InvalidValue
from onceonly.intake.problems import documented, no_progress_match, too_many
from onceonly.intake.progress import LAST4
from onceonly.intake.ratelimit import retry_after_header
from onceonly.intake.schemas import ProgressMatter, ProgressView

router = APIRouter(tags=["citizens"])


@router.get(
    "/v1/progress",
    response_model=ProgressView,
    summary="Citizen progress lookup (办件进度查询)",
    description=(
        "No API key: for applicants themselves. Give the application code and the last"
        " four characters of the applicant's mobile number or identifier. Answers the"
        " status and the matter only. A wrong `last4` answers exactly like an unknown"
        " code. Limited per client address."
    ),
    responses=documented(404, 422, 429, 503),
)
async def progress(
    request: Request,
    code: Annotated[str, Query(max_length=40, examples=["330100-20250303-0004276"])],
    last4: Annotated[
        str,
        Query(
            pattern=f"^{LAST4.pattern}$",
            description="Last 4 of the mobile number or ID (X allowed last)",
            examples=["5678"],
        ),
    ],
    state: State,
    service: Service,
    catalogue: MatterCatalogue,
) -> ProgressView:
    client = request.client.host if request.client else "unknown"
    wait = state.progress_limiter.take(client)
    if wait is not None:
        metrics.RATE_LIMITED.labels("progress").inc()
        raise too_many(retry_after_header(wait))
    nowhere = no_progress_match()
    try:
        parsed = str(parse_application_code(code))
    except InvalidValue:
        raise nowhere from None
    found = await service.progress(code=parsed, last4=last4)
    matter = catalogue.matter(found.matter_code) if found else None
    if found is None or matter is None:
        raise nowhere
    return ProgressView(
        application_code=found.application_code,
        status=found.status,
        matter=ProgressMatter(code=matter.code, name_zh=matter.name_zh, name_en=matter.name_en),
    )
