"""The citizens' progress lookup (办件进度查询): no API key; limited per client address,
per application code (lockout) and per deployment (failures per minute)."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from onceonly.intake import metrics
from onceonly.intake.api.dependencies import ClientAddress, Lookup, MatterCatalogue, State
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.approval_status import NOT_EXAMINED, outstanding_materials
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.errors import InvalidValue, LookupsLimited
from onceonly.intake.lookup_store import LookupStore
from onceonly.intake.problems import documented, invalid, no_progress_match
from onceonly.intake.progress import LAST4, TOKEN
from onceonly.intake.progress_answer import (
    Name,
    china_date,
    deciding,
    expected_completion,
    last_steps,
    to_provide,
    working_days_left,
)
from onceonly.intake.schemas import (
    ProgressDeciding,
    ProgressExpected,
    ProgressLookup,
    ProgressMatter,
    ProgressName,
    ProgressRequest,
    ProgressStep,
    ProgressView,
)
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
        " (`last4`). Answers the status, the matter, what was looked up in base"
        " registries for the applicant and when (no record references), and when the"
        " application is expected to be completed: the date (marked `provisional` when"
        " it is an estimate past the published holiday notices), the working days left,"
        " the departments still deciding, what the applicant must still provide and by"
        " when, and the last steps in plain words (zh and en). Wrong digits,"
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
    approvals = ApprovalStore(state.pool)
    # The follower's projection of the approval events: no Temporal query per lookup.
    approval = await approvals.state_of(found.application_code) or NOT_EXAMINED
    supplied = (
        await approvals.supplied_since(found.application_code, approval.missing_since)
        if approval.missing_materials
        else set()
    )
    expected = expected_completion(approval)
    today = china_date(datetime.now(UTC))
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
        expected_completion=ProgressExpected(
            date=expected.due_on,
            provisional=expected.provisional,
            paused=expected.paused,
            working_days_left=working_days_left(
                state.calendar, today=today, due_on=expected.due_on
            ),
        )
        if expected is not None
        else None,
        deciding=[
            ProgressDeciding(department=_name(item.department), state=item.state)
            for item in deciding(approval, catalogue, matter_code=matter.code)
        ],
        to_provide=[
            ProgressRequest(
                department=_name(request.department) if request.department else None,
                materials=[_name(material) for material in request.materials],
                due_date=request.due_on,
            )
            for request in to_provide(
                approval, outstanding_materials(approval, supplied), catalogue
            )
        ],
        last_steps=[
            ProgressStep(at=step.at, zh=step.zh, en=step.en)
            for step in last_steps(approval, catalogue, submitted_at=found.submitted_at)
        ],
    )


def _name(name: Name) -> ProgressName:
    return ProgressName(name_zh=name.zh, name_en=name.en)
