"""Applications: submit one, list yours, read one back."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import Response
from opentelemetry import trace

from onceonly.intake import metrics
from onceonly.intake.agents import AgentDraft
from onceonly.intake.api.dependencies import (
    REPLAYED_HEADER,
    CurrentIntegrator,
    IdempotencyKeyHeader,
    IntakeState,
    Integrator,
    MatterCatalogue,
    PostingIntegrator,
    Service,
    State,
    code_or_404,
    idempotency,
    json_answer,
)
from onceonly.intake.approval_status import Status
from onceonly.intake.errors import InvalidValue
from onceonly.intake.idempotency import IdempotencyRequest
from onceonly.intake.paging import DEFAULT_LIMIT, MAX_LIMIT
from onceonly.intake.problems import documented, invalid, not_found
from onceonly.intake.schemas import (
    ORGANISATION_EXAMPLE,
    PERSON_EXAMPLE,
    AgentIn,
    ApplicationIn,
    ApplicationPage,
    ApplicationSummaryView,
    ApplicationView,
    Instant,
    LookupsView,
    LookupView,
    PageLinks,
    SubmissionReceipt,
)
from onceonly.intake.service import application_path
from onceonly.intake.submission import Consent, MaterialReference, SubmissionDraft
from onceonly.platform.telemetry import current_trace_headers

router = APIRouter(tags=["applications"])
# Submissions' series, found once (`labels` takes a lock and checks its values per call).
_ACCEPTED = metrics.SUBMISSIONS.labels("accepted")
_REPLAYED = metrics.SUBMISSIONS.labels("replayed")

_EXAMPLES: dict[str, Any] = {
    "person": {"summary": "A person: household registration transfer", "value": PERSON_EXAMPLE},
    "organisation": {
        "summary": "An organisation: business start-up",
        "value": ORGANISATION_EXAMPLE,
    },
}


@router.post(
    "/v1/applications",
    status_code=201,
    response_model=SubmissionReceipt,
    summary="Submit an application",
    description=(
        "Validates the application against the catalogue (matter, applicant kind,"
        " material codes) and the identifier rules (resident ID number, unified social"
        " credit code, mobile number), assigns its application code and records it."
        " The answer is sent only once the application is durably stored. An `agent`"
        " (帮代办) submits with the applicant's authorisation, which must cover `submit`"
        " today; `consents` lists the shared-data checks the applicant consented to:"
        " only those are run (免证办), the others' materials are asked for."
    ),
    responses={
        201: {
            "description": "Recorded; `Location` points at the application",
            "headers": {
                "Location": {"schema": {"type": "string"}},
                "Idempotent-Replayed": REPLAYED_HEADER,
            },
        },
        **documented(401, 413, 415, 422, 429, 503),
    },
)
async def submit_application(
    request: Request,
    integrator: PostingIntegrator,
    body: Annotated[ApplicationIn, Body(openapi_examples=_EXAMPLES)],
    state: State,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    # Its well-formed requests are answered by `SubmissionFastPath` with the same steps;
    # this route answers the rest (and documents the endpoint).
    return await submission_answer(
        state, integrator, body, idempotency(request, idempotency_key, body)
    )


async def submission_answer(
    state: IntakeState,
    integrator: Integrator,
    body: ApplicationIn,
    key: IdempotencyRequest | None,
) -> Response:
    """The 201 of an authenticated integrator's submission (or its stored first answer)."""
    service = state.service
    assert service is not None  # the lifespan builds it before requests are served
    draft = SubmissionDraft(
        matter_code=body.matter_code,
        applicant_kind=body.applicant.kind,
        applicant_name=body.applicant.name,
        applicant_identifier=body.applicant.identifier,
        mobile=body.contact.mobile,
        channels=tuple(body.contact.channels),
        language=body.contact.language,
        materials=tuple(MaterialReference(m.code, m.reference) for m in body.materials),
        form=body.form,
        agent=_agent_draft(body.agent) if body.agent is not None else None,
        consents=tuple(Consent(c.purpose, c.reference, c.given_at) for c in body.consents),
        region_code=body.region_code,
        submitted_region=service.region,
    )
    answer = await service.submit(
        integrator_id=integrator.id,
        draft=draft,
        idempotency=key,
        trace_headers=current_trace_headers(),
    )
    (_REPLAYED if answer.replayed else _ACCEPTED).inc()
    # The first answer and its replay (stored as JSON) are both read as the receipt; the
    # lookup token is derived, not stored, so a replay carries it too.
    code = answer.body["application_code"]
    receipt = SubmissionReceipt.model_validate(
        {**answer.body, "progress_token": state.progress_tokens.issue(code)}
    )
    trace.get_current_span().set_attribute("onceonly.application_code", receipt.application_code)
    return json_answer(
        answer,
        {"Location": receipt.links.self_},
        receipt.model_dump(mode="json", by_alias=True),
    )


def _agent_draft(agent: AgentIn) -> AgentDraft:
    authorisation = agent.authorisation
    return AgentDraft(
        name=agent.name,
        identifier=agent.identifier,
        mobile=agent.mobile,
        relation=agent.relation,
        organisation=agent.organisation,
        scope=tuple(authorisation.scope),
        valid_from=authorisation.valid_from,
        valid_until=authorisation.valid_until,
        given_by=authorisation.given_by,
        letter_reference=authorisation.letter_reference,
        consent_reference=authorisation.consent_reference,
    )


@router.get(
    "/v1/applications",
    response_model=ApplicationPage,
    summary="List your applications",
    description=(
        "Newest first. Filters combine; `submitted_from` is inclusive, `submitted_to`"
        " exclusive, both with a time zone. Follow `links.next` (or pass `next_cursor`"
        " as `cursor` with the same filters) until it is null."
    ),
    responses=documented(401, 422, 503),
)
async def list_applications(
    integrator: CurrentIntegrator,
    service: Service,
    matter_code: Annotated[
        str | None, Query(max_length=64, examples=["household-transfer"])
    ] = None,
    status: Annotated[Status | None, Query(examples=["accepted"])] = None,
    submitted_from: Annotated[Instant | None, Query(examples=["2025-03-01T00:00:00+08:00"])] = None,
    submitted_to: Annotated[Instant | None, Query(examples=["2025-04-01T00:00:00+08:00"])] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            description="`next_cursor` of the previous page",
            examples=["WyIyMDI1LTAzLTAyVDA4OjE1OjAwKzAwOjAwIl0"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, examples=[20])] = DEFAULT_LIMIT,
) -> ApplicationPage:
    try:
        page, next_cursor = await service.applications_page(
            integrator_id=integrator.id,
            matter_code=matter_code,
            status=status,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
            cursor=cursor,
            limit=limit,
        )
    except InvalidValue as exc:
        raise invalid(
            [
                {
                    "field": "cursor",
                    "in": "query",
                    "code": exc.code,
                    "message": exc.message_en,
                    "message_zh": exc.message_zh,
                }
            ]
        ) from None
    next_link = None
    if next_cursor is not None:
        query = {
            "matter_code": matter_code,
            "status": status,
            "submitted_from": submitted_from.isoformat() if submitted_from else None,
            "submitted_to": submitted_to.isoformat() if submitted_to else None,
            "limit": str(limit),
            "cursor": next_cursor,
        }
        next_link = "/v1/applications?" + urlencode(
            {name: value for name, value in query.items() if value is not None}
        )
    return ApplicationPage(
        applications=[
            ApplicationSummaryView.of(item, self_link=application_path(item.application_code))
            for item in page
        ],
        next_cursor=next_cursor,
        links=PageLinks(next=next_link),
    )


@router.get(
    "/v1/applications/{application_code}",
    response_model=ApplicationView,
    summary="Read one of your applications",
    description=(
        "Where the approval stands (status, the application's clock and each"
        " department's task and clock) and which materials are still missing, as the"
        " workflow reported it a moment ago. Personal data is masked. Another"
        " integrator's application is a 404."
    ),
    responses=documented(401, 404, 503),
)
async def read_application(
    integrator: CurrentIntegrator,
    application_code: Annotated[str, Path(max_length=40, examples=["330100-20250303-0004276"])],
    service: Service,
    catalogue: MatterCatalogue,
) -> ApplicationView:
    code = code_or_404(application_code)
    found = await service.application(integrator_id=integrator.id, code=code)
    if found is None:
        raise not_found(f"Application {code}")
    return ApplicationView.of(
        found.record,
        found.approval,
        outstanding=found.outstanding,
        catalogue=catalogue,
        self_link=application_path(code),
    )


@router.get(
    "/v1/applications/{application_code}/lookups",
    response_model=LookupsView,
    summary="What was looked up for the applicant (免证办)",
    description=(
        "Every shared-data check run for this application, oldest first: the base"
        " registry that answered, the record it relied on (a certificate or licence"
        " number, or the registry's opaque record key: never an identifier in the"
        " clear), when it was asked, what it confirmed or denied, and the applicant's"
        " consent it ran under; and the checks of the matter not run for want of"
        " consent (their materials are asked for instead). Fed by the workflow's"
        " events, a moment behind it. Another integrator's application is a 404."
    ),
    responses=documented(401, 404, 503),
)
async def read_lookups(
    integrator: CurrentIntegrator,
    application_code: Annotated[str, Path(max_length=40, examples=["330100-20250303-0004276"])],
    service: Service,
) -> LookupsView:
    code = code_or_404(application_code)
    found = await service.lookups(integrator_id=integrator.id, code=code)
    if found is None:
        raise not_found(f"Application {code}")
    return LookupsView(
        application_code=code,
        lookups=[
            LookupView(
                check=lookup.check,
                registry=lookup.registry,
                record_reference=lookup.record_reference,
                checked_at=lookup.checked_at,
                confirmed=lookup.passed,
                code=lookup.code,
                reason=lookup.reason,
                reason_zh=lookup.reason_zh,
                consent_reference=lookup.consent_reference,
            )
            for lookup in found.lookups
        ],
        not_consented=found.not_consented,
    )
