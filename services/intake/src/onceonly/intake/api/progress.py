"""The citizens' progress lookup (办件进度查询): no API key; limited per client address,
per application code (lockout) and per deployment (failures per minute)."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Annotated

from fastapi import APIRouter, Query

from onceonly.intake import metrics
from onceonly.intake.api.dependencies import ClientAddress, Lookup, MatterCatalogue, State
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.errors import InvalidValue, LookupsLimited
from onceonly.intake.lookup_store import LookupStore
from onceonly.intake.problems import documented, invalid, no_progress_match
from onceonly.intake.progress import LAST4, TOKEN
from onceonly.intake.schemas import ProgressLookup, ProgressMatter, ProgressView
from onceonly.platform.limits import retry_after_header, too_many_requests

router = APIRouter(tags=["citizens"])


@router.get(
    "/v1/progress",
    response_model=ProgressView,
    summary="Citizen progress lookup (办件进度查询)",
    description=(
        "No API key: for applicants themselves. Give the application code and either the"
        " lookup `token` (from the link the integrator sent, see `progress_token` in the"
        " submission's receipt) or the last four digits of the applicant's mobile number"
        " (`last4`). Answers the status, the matter and what was looked up in base"
        " registries for the applicant, and when (no record references). Wrong digits,"
        " a wrong token, an unknown code and a code locked after repeated wrong digits"
        " all answer the same 404. Limited per client address, and for `last4` per"
        " deployment (429)."
    ),
    responses=documented(404, 422, 429, 503),
)
async def progress(
    code: Annotated[str, Query(max_length=40, examples=["330100-20250303-0004276"])],
    state: State,
    lookup: Lookup,
    client: ClientAddress,
    catalogue: MatterCatalogue,
    last4: Annotated[
        str | None,
        Query(
            pattern=f"^{LAST4.pattern}$",
            description="Last 4 digits of the applicant's mobile number",
            examples=["5678"],
        ),
    ] = None,
    token: Annotated[
        str | None,
        Query(
            pattern=f"^{TOKEN.pattern}$",
            description="The application's lookup token (22 characters, base64url)",
            examples=["q8ZpX1tR0m3nVb2cY5kLwA"],
        ),
    ] = None,
) -> ProgressView:
    if (last4 is None) == (token is None):
        raise invalid(
            [
                {
                    "field": "last4" if last4 is None else "token",
                    "in": "query",
                    "code": "one_of",
                    "message": "Give either `last4` or `token`, exactly one.",
                    "message_zh": "请提供 last4 或 token 其中之一.",
                }
            ]
        )
    wait = await state.progress_limiter.take(client)
    if wait is not None:
        metrics.RATE_LIMITED.labels("progress").inc()
        raise too_many_requests(retry_after_header(wait))
    nowhere = no_progress_match()
    try:
        parsed = str(parse_application_code(code))
    except InvalidValue:
        raise nowhere from None
    if token is not None:
        found = await lookup.by_token(code=parsed, token=token)
    else:
        assert last4 is not None  # exactly one of the two, checked above
        try:
            found = await lookup.by_last4(code=parsed, last4=last4)
        except LookupsLimited as exc:
            raise too_many_requests(retry_after_header(exc.retry_after_seconds)) from None
    matter = catalogue.matter(found.matter_code) if found else None
    if found is None or matter is None:
        raise nowhere
    assert state.pool is not None  # opened by the lifespan
    lookups, _ = await LookupStore(state.pool).lookups(found.application_code)
    return ProgressView(
        application_code=found.application_code,
        status=found.status,
        matter=ProgressMatter(code=matter.code, name_zh=matter.name_zh, name_en=matter.name_en),
        lookups=[
            ProgressLookup(
                check=item.check,
                registry=item.registry,
                checked_at=item.checked_at,
                confirmed=item.passed,
                reason=item.reason,
                reason_zh=item.reason_zh,
            )
            for item in lookups
        ],
    )
