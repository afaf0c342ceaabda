"""The integrator API: submit applications, read them back, read the catalogue.

Served by `onceonly-intake api`. A request handler never talks to Kafka: the
application and its event commit together in Postgres, and the relay publishes.
"""

# No `from __future__ import annotations`: FastAPI resolves the `Annotated` aliases of
# the route signatures at definition time.

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import asyncpg
import structlog
from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace
from pydantic import BaseModel

from onceonly.catalogue import Catalogue, Matter, default_catalogue
from onceonly.intake import metrics, outbox
from onceonly.intake.apikeys import parse_api_key, secret_matches
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.approval_status import Status
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.errors import InvalidApiKey, InvalidValue
from onceonly.intake.idempotency import (
    IDEMPOTENCY_KEY_PATTERN,
    IdempotencyRequest,
    request_fingerprint,
    validate_key,
)
from onceonly.intake.middleware import (
    BodyLimitMiddleware,
    DeadlineMiddleware,
)
from onceonly.intake.openapi_examples import response_examples
from onceonly.intake.paging import DEFAULT_LIMIT, MAX_LIMIT
from onceonly.intake.problems import (
    UNAVAILABLE,
    document_problems,
    documented,
    install_intake_handlers,
    invalid,
    no_progress_match,
    not_found,
    too_many,
    unauthorised,
    upload_refused,
)
from onceonly.intake.progress import LAST4
from onceonly.intake.ratelimit import RateLimiter, retry_after_header
from onceonly.intake.relay import RELAY_COMPONENT
from onceonly.intake.schemas import (
    ORGANISATION_EXAMPLE,
    PERSON_EXAMPLE,
    ApplicationIn,
    ApplicationPage,
    ApplicationSummaryView,
    ApplicationView,
    Instant,
    MatterGuide,
    MatterList,
    MatterSummary,
    PageLinks,
    ProgressMatter,
    ProgressView,
    RatingIn,
    SubmissionReceipt,
    SupplementIn,
    UpdateReceipt,
    UploadReceipt,
    WithdrawalIn,
)
from onceonly.intake.service import Answer, IntakeService, application_path
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore
from onceonly.intake.submission import MaterialReference, SubmissionDraft
from onceonly.intake.updates import (
    Update,
    validate_rating,
    validate_supplement,
    validate_withdrawal,
)
from onceonly.intake.upload_store import UploadStore
from onceonly.intake.uploads import SIGNATURES, UploadRefused, check_upload, upload_reference
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import health_router, install_problem_handlers
from onceonly.platform.metrics import RequestMetricsMiddleware
from onceonly.platform.pii import PiiSealer
from onceonly.platform.telemetry import current_trace_headers

log = structlog.get_logger(__name__)

_EXAMPLES: dict[str, Any] = {
    "person": {"summary": "A person: household registration transfer", "value": PERSON_EXAMPLE},
    "organisation": {
        "summary": "An organisation: business start-up",
        "value": ORGANISATION_EXAMPLE,
    },
}


@dataclass(frozen=True, slots=True)
class Integrator:
    id: str
    name: str
    key_id: str


def create_app(
    settings: IntakeSettings,
    *,
    pool: asyncpg.Pool | None = None,
    catalogue: Catalogue | None = None,
) -> FastAPI:
    """The API; with `pool` given (tests) it uses that pool and leaves it open."""
    catalogue = catalogue or default_catalogue()
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    state: dict[str, Any] = {}

    async def refresh_backlog(current: asyncpg.Pool) -> None:
        # The backlog is measured here, not by the relay, so that it is visible exactly
        # when the relay is down.
        while True:
            try:
                found = await outbox.backlog(current, topic_prefix=settings.topic_prefix)
                metrics.OUTBOX_BACKLOG.set(found.rows)
                metrics.OUTBOX_OLDEST_SECONDS.set(found.oldest_seconds)
            except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
                log.warning("outbox backlog not measured", error=type(exc).__name__)
            await asyncio.sleep(max(settings.heartbeat_seconds, 1.0))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        own = pool is None
        # The API's queries leave no session state (no LISTEN, SET or cursor; the
        # migrations' advisory lock is released explicitly): no reset round trip per
        # checkout, of which a submission makes two.
        current = pool or await create_pool(
            settings.database_url, max_size=settings.database_pool_max, reset_sessions=False
        )
        refresher: asyncio.Task[None] | None = None
        try:
            await prepare_database(current, component="intake", package="onceonly.intake")
            store = ApplicationStore(current)
            state["pool"] = current
            state["store"] = store
            state["service"] = IntakeService(
                store=store,
                catalogue=catalogue,
                sealer=sealer,
                region_code=settings.region_code,
                topic_prefix=settings.topic_prefix,
                idempotency_ttl_hours=settings.idempotency_ttl_hours,
                approvals=ApprovalStore(current),
            )
            refresher = asyncio.create_task(refresh_backlog(current))
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            if own:
                await current.close()

    app = FastAPI(
        title="Once-Only intake API",
        version="1.0.0",
        description=(
            "For integrators (portals, apps, kiosks, the 12345 hotline, service-hall windows):"
            " submit applications for matters of the service catalogue and follow them.\n\n"
            "* Authenticate with `Authorization: Bearer oo_<key_id>_<secret>`.\n"
            "* Send an `Idempotency-Key` header with every POST: a retry with the same key"
            " and body returns the first answer; the same key with another body is a 422.\n"
            "* Errors are RFC 9457 `application/problem+json`; validation errors name each"
            " field in `errors`, with messages in English and Chinese."
        ),
        lifespan=lifespan,
        # FastAPI's spans stay on; its logs of validation failures would carry the
        # rejected input values, personal data included.
        telemetry={"logs": False},
    )
    install_problem_handlers(app)
    install_intake_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        by_path={"/v1/materials": settings.material_max_bytes},
    )
    # Inside the metrics (so that timed-out requests are counted with their 503).
    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout_seconds, prefix="/v1/")
    app.add_middleware(RequestMetricsMiddleware, service="intake")

    async def health_check() -> dict[str, str]:
        current: asyncpg.Pool = state["pool"]
        try:
            await current.fetchval("SELECT 1")
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            return {"postgres": f"{type(exc).__name__}: {exc}"}
        return await stale_components(
            current, [RELAY_COMPONENT], max_age_seconds=settings.relay_max_silence_seconds
        )

    app.include_router(health_router(health_check))
    document_problems(app, response_examples(catalogue))

    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="IntegratorApiKey",
        description="An integrator API key: `oo_<key_id>_<secret>` (from `onceonly-intake"
        " integrator create` or `key-create`).",
    )

    async def current_integrator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Integrator:
        if credentials is None:
            raise unauthorised()
        try:
            key_id, secret = parse_api_key(credentials.credentials)
        except InvalidApiKey:
            raise unauthorised() from None
        store: ApplicationStore = state["store"]
        owner = await store.key_owner(key_id)
        valid = secret_matches(secret, owner.secret_sha256 if owner else None)
        if owner is None or not valid or owner.revoked:
            raise unauthorised()
        structlog.contextvars.bind_contextvars(integrator_id=owner.integrator_id)
        return Integrator(owner.integrator_id, owner.integrator_name, key_id)

    post_limiter = RateLimiter(
        rate_per_second=settings.integrator_post_rate_per_second,
        burst=settings.integrator_post_burst,
    )
    progress_limiter = RateLimiter(
        rate_per_second=settings.progress_rate_per_minute / 60.0,
        burst=settings.progress_burst,
    )

    async def limited_integrator(
        integrator: Annotated[Integrator, Depends(current_integrator)],
    ) -> Integrator:
        # After authentication: an unauthenticated flood spends nobody's budget.
        wait = post_limiter.take(integrator.id)
        if wait is not None:
            metrics.RATE_LIMITED.labels("integrator").inc()
            raise too_many(retry_after_header(wait))
        return integrator

    CurrentIntegrator = Annotated[Integrator, Depends(current_integrator)]
    PostingIntegrator = Annotated[Integrator, Depends(limited_integrator)]

    def service() -> IntakeService:
        return state["service"]

    @app.post(
        "/v1/applications",
        status_code=201,
        response_model=SubmissionReceipt,
        tags=["applications"],
        summary="Submit an application",
        description=(
            "Validates the application against the catalogue (matter, applicant kind,"
            " material codes) and the identifier rules (resident ID number, unified social"
            " credit code, mobile number), assigns its application code and records it."
            " The answer is sent only once the application is durably stored."
        ),
        responses={
            201: {
                "description": "Recorded; `Location` points at the application",
                "headers": {
                    "Location": {"schema": {"type": "string"}},
                    "Idempotent-Replayed": {
                        "description": "`true` when this is the stored first answer",
                        "schema": {"type": "string"},
                    },
                },
            },
            **documented(401, 413, 422, 429, 503),
        },
    )
    async def submit_application(
        request: Request,
        integrator: PostingIntegrator,
        body: Annotated[ApplicationIn, Body(openapi_examples=_EXAMPLES)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        idempotency = _idempotency(request, idempotency_key, body.model_dump(mode="json"))
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
        )
        answer = await service().submit(
            integrator_id=integrator.id,
            draft=draft,
            idempotency=idempotency,
            trace_headers=current_trace_headers(),
        )
        metrics.SUBMISSIONS.labels("replayed" if answer.replayed else "accepted").inc()
        trace.get_current_span().set_attribute(
            "onceonly.application_code", answer.body.get("application_code", "")
        )
        headers = {}
        if self_link := answer.body.get("links", {}).get("self"):
            headers["Location"] = self_link
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        # Keys sorted: the stored answer comes back from jsonb in another order, and a
        # replay should be byte for byte the first answer.
        return _json_answer(answer, headers)

    update_responses: dict[int | str, dict[str, Any]] = {
        202: {
            "description": "Recorded; the workflow receives it through Kafka",
            "headers": {
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored first answer",
                    "schema": {"type": "string"},
                },
            },
        },
        **documented(401, 404, 409, 413, 422, 429, 503),
    }

    async def record_update(
        request: Request,
        integrator: Integrator,
        application_code: str,
        body: BaseModel,
        idempotency_key: str | None,
        build: Callable[[Matter], Update],
        materials: tuple[MaterialReference, ...] = (),
    ) -> Response:
        code = _code_or_404(application_code)
        idempotency = _idempotency(request, idempotency_key, body.model_dump(mode="json"))
        answer = await service().update(
            integrator_id=integrator.id,
            code=code,
            build=build,
            idempotency=idempotency,
            trace_headers=current_trace_headers(),
            materials=materials,
        )
        trace.get_current_span().set_attribute("onceonly.application_code", code)
        return _json_answer(answer, {"Idempotent-Replayed": "true"} if answer.replayed else {})

    @app.post(
        "/v1/applications/{application_code}/supplements",
        status_code=202,
        response_model=UpdateReceipt,
        tags=["applications"],
        summary="Provide supplementary materials (补正)",
        description=(
            "Materials the departments asked for, or that were allowed to follow (容缺)."
            " Each code must be one of the matter's materials. Refused (409) once a"
            " withdrawal was requested."
        ),
        responses=update_responses,
    )
    async def provide_supplement(
        request: Request,
        integrator: PostingIntegrator,
        application_code: ApplicationCodePath,
        body: SupplementIn,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        materials = tuple(MaterialReference(m.code, m.reference) for m in body.materials)
        return await record_update(
            request,
            integrator,
            application_code,
            body,
            idempotency_key,
            lambda matter: validate_supplement(materials, matter),
            materials,
        )

    @app.post(
        "/v1/materials",
        status_code=201,
        response_model=UploadReceipt,
        tags=["applications"],
        summary="Upload a material (PDF, PNG or JPEG)",
        description=(
            "The file is the request body, its type the `Content-Type`"
            f" ({', '.join(SIGNATURES)}; checked against the content), at most"
            f" {settings.material_max_bytes} bytes. Answers a `reference` to name in an"
            " application's or a supplement's materials; only you can use it. Idempotent by"
            " content: the same bytes again answer the same reference (with"
            " `Idempotent-Replayed: true`), so an `Idempotency-Key` is accepted but not needed."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in SIGNATURES
                },
            }
        },
        responses={
            201: {
                "description": "Stored",
                "headers": {
                    "Idempotent-Replayed": {
                        "description": "`true` when these bytes had been uploaded before",
                        "schema": {"type": "string"},
                    },
                },
            },
            **documented(401, 413, 415, 422, 429, 503),
        },
    )
    async def upload_material(
        request: Request,
        integrator: PostingIntegrator,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        # The key is validated like on every POST; the content itself makes retries safe.
        _idempotency(request, idempotency_key, {})
        data = await request.body()
        try:
            media_type = check_upload(
                request.headers.get("content-type", ""),
                data,
                max_bytes=settings.material_max_bytes,
            )
        except UploadRefused as exc:
            raise upload_refused(exc) from None
        stored = await UploadStore(state["pool"]).save(integrator.id, media_type, data)
        receipt = UploadReceipt(
            reference=upload_reference(stored.upload_id),
            content_type=stored.content_type,  # type: ignore[arg-type]
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            uploaded_at=stored.created_at,
        )
        return Response(
            receipt.model_dump_json(),
            status_code=201,
            media_type="application/json",
            headers={} if stored.new else {"Idempotent-Replayed": "true"},
        )

    @app.post(
        "/v1/applications/{application_code}/withdrawal",
        status_code=202,
        response_model=UpdateReceipt,
        tags=["applications"],
        summary="Ask to withdraw an application (撤回)",
        description="Requested once; a second request is a 409.",
        responses=update_responses,
    )
    async def request_withdrawal(
        request: Request,
        integrator: PostingIntegrator,
        application_code: ApplicationCodePath,
        body: WithdrawalIn,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        return await record_update(
            request,
            integrator,
            application_code,
            body,
            idempotency_key,
            lambda _: validate_withdrawal(body.reason),
        )

    @app.post(
        "/v1/applications/{application_code}/rating",
        status_code=202,
        response_model=UpdateReceipt,
        tags=["applications"],
        summary="Rate an application (好差评)",
        description=(
            "Five levels and an optional comment of at most 500 characters, once per"
            " application (a second rating is a 409). Offer it once the application is"
            " `completed`. Intake's status follows the approval a moment behind, so a"
            " rating is recorded whenever it comes; only ratings of completed"
            " applications are counted."
        ),
        responses=update_responses,
    )
    async def rate_application(
        request: Request,
        integrator: PostingIntegrator,
        application_code: ApplicationCodePath,
        body: RatingIn,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response:
        return await record_update(
            request,
            integrator,
            application_code,
            body,
            idempotency_key,
            lambda _: validate_rating(body.level, body.comment),
        )

    @app.get(
        "/v1/applications",
        response_model=ApplicationPage,
        tags=["applications"],
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
        matter_code: Annotated[
            str | None, Query(max_length=64, examples=["household-transfer"])
        ] = None,
        status: Annotated[Status | None, Query(examples=["accepted"])] = None,
        submitted_from: Annotated[
            Instant | None, Query(examples=["2025-03-01T00:00:00+08:00"])
        ] = None,
        submitted_to: Annotated[
            Instant | None, Query(examples=["2025-04-01T00:00:00+08:00"])
        ] = None,
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
            page, next_cursor = await service().applications_page(
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

    @app.get(
        "/v1/applications/{application_code}",
        response_model=ApplicationView,
        tags=["applications"],
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
        application_code: Annotated[
            str,
            Path(max_length=40, examples=["330100-20250303-0004276"]),
        ],
    ) -> ApplicationView:
        code = _code_or_404(application_code)
        found = await service().application(integrator_id=integrator.id, code=code)
        if found is None:
            raise not_found(f"Application {code}")
        return ApplicationView.of(
            found.record,
            found.approval,
            outstanding=found.outstanding,
            catalogue=catalogue,
            self_link=application_path(code),
        )

    @app.get(
        "/v1/progress",
        response_model=ProgressView,
        tags=["citizens"],
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
    ) -> ProgressView:
        client = request.client.host if request.client else "unknown"
        wait = progress_limiter.take(client)
        if wait is not None:
            metrics.RATE_LIMITED.labels("progress").inc()
            raise too_many(retry_after_header(wait))
        nowhere = no_progress_match()
        try:
            parsed = str(parse_application_code(code))
        except InvalidValue:
            raise nowhere from None
        found = await service().progress(code=parsed, last4=last4)
        matter = catalogue.matter(found.matter_code) if found else None
        if found is None or matter is None:
            raise nowhere
        return ProgressView(
            application_code=found.application_code,
            status=found.status,
            matter=ProgressMatter(code=matter.code, name_zh=matter.name_zh, name_en=matter.name_en),
        )

    @app.get(
        "/v1/matters",
        response_model=MatterList,
        tags=["catalogue"],
        summary="The service catalogue (事项清单)",
        description="Public: every matter that can be applied for, to build forms from.",
        responses=documented(503),
    )
    async def list_matters() -> MatterList:
        return MatterList(matters=[MatterSummary.of(matter) for matter in catalogue.matters])

    @app.get(
        "/v1/matters/{matter_code}",
        response_model=MatterGuide,
        tags=["catalogue"],
        summary="One matter's guide (办事指南)",
        description="Departments and their committed limits, materials, shared-data checks.",
        responses=documented(404, 503),
    )
    async def read_matter(
        matter_code: Annotated[str, Path(max_length=64, examples=["household-transfer"])],
    ) -> MatterGuide:
        matter = catalogue.matter(matter_code)
        if matter is None:
            raise not_found(f"Matter {matter_code}")
        return MatterGuide.of_matter(matter, catalogue)

    return app


ApplicationCodePath = Annotated[str, Path(max_length=40, examples=["330100-20250303-0004276"])]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Any unique string per logical request (visible ASCII), e.g. a UUID."
        " Kept for at least 24 hours; scoped to the integrator, so one key names one"
        " request whatever its path.",
        examples=["5d0f9a2e-3f4b-4c1e-9a53-6e1f7c2b8a10"],
    ),
]


def _code_or_404(application_code: str) -> str:
    # A malformed code names no application: the same 404 as an unknown one.
    try:
        return str(parse_application_code(application_code))
    except InvalidValue:
        raise not_found(f"Application {application_code}") from None


def _idempotency(
    request: Request, key: str | None, body: dict[str, Any]
) -> IdempotencyRequest | None:
    if key is None:
        return None
    try:
        validate_key(key)
    except InvalidValue as exc:
        raise invalid(
            [
                {
                    "field": "Idempotency-Key",
                    "in": "header",
                    "code": exc.code,
                    "message": exc.message_en,
                    "message_zh": exc.message_zh,
                }
            ]
        ) from None
    return IdempotencyRequest(key, request_fingerprint("POST", request.url.path, body))


def _json_answer(answer: Answer, headers: dict[str, str]) -> Response:
    # Keys sorted: the stored answer comes back from jsonb in another order, and a
    # replay should be byte for byte the first answer.
    return Response(
        json.dumps(answer.body, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        status_code=answer.status,
        headers=headers,
        media_type="application/json",
    )
