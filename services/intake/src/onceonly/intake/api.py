"""The integrator API: submit applications, read them back, read the catalogue.

Served by `onceonly-intake api`. A request handler never talks to Kafka: the
application and its event commit together in Postgres, and the relay publishes.
"""

# No `from __future__ import annotations`: FastAPI resolves the `Annotated` aliases of
# the route signatures at definition time.

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import structlog
from fastapi import Body, Depends, FastAPI, Header, Path, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.intake import metrics, outbox
from onceonly.intake.apikeys import parse_api_key, secret_matches
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.errors import InvalidApiKey, InvalidValue
from onceonly.intake.idempotency import IdempotencyRequest, request_fingerprint, validate_key
from onceonly.intake.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from onceonly.intake.problems import (
    UNAVAILABLE,
    document_problems,
    documented,
    install_intake_handlers,
    invalid,
    not_found,
    unauthorised,
)
from onceonly.intake.relay import RELAY_COMPONENT
from onceonly.intake.schemas import (
    ORGANISATION_EXAMPLE,
    PERSON_EXAMPLE,
    ApplicationIn,
    ApplicationView,
    MatterGuide,
    MatterList,
    MatterSummary,
    SubmissionReceipt,
)
from onceonly.intake.service import IntakeService, application_path
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore
from onceonly.intake.submission import MaterialReference, SubmissionDraft
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import health_router, install_problem_handlers
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
        current = pool or await create_pool(
            settings.database_url, max_size=settings.database_pool_max
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
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware)

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
    document_problems(app)

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

    CurrentIntegrator = Annotated[Integrator, Depends(current_integrator)]

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
            **documented(401, 413, 422, 503),
        },
    )
    async def submit_application(
        request: Request,
        integrator: CurrentIntegrator,
        body: Annotated[ApplicationIn, Body(openapi_examples=_EXAMPLES)],
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                max_length=255,
                description="Any unique string per logical request, e.g. a UUID",
                examples=["5d0f9a2e-3f4b-4c1e-9a53-6e1f7c2b8a10"],
            ),
        ] = None,
    ) -> Response:
        idempotency = None
        if idempotency_key is not None:
            try:
                validate_key(idempotency_key)
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
            idempotency = IdempotencyRequest(
                idempotency_key,
                request_fingerprint("POST", request.url.path, body.model_dump(mode="json")),
            )
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
        return Response(
            json.dumps(answer.body, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
            status_code=answer.status,
            headers=headers,
            media_type="application/json",
        )

    @app.get(
        "/v1/applications/{application_code}",
        response_model=ApplicationView,
        tags=["applications"],
        summary="Read one of your applications",
        description="Personal data is masked. Another integrator's application is a 404.",
        responses=documented(401, 404, 503),
    )
    async def read_application(
        integrator: CurrentIntegrator,
        application_code: Annotated[
            str,
            Path(max_length=40, examples=["330100-20250303-0004276"]),
        ],
    ) -> ApplicationView:
        try:
            code = str(parse_application_code(application_code))
        except InvalidValue:
            raise not_found(f"Application {application_code}") from None
        record = await service().application(integrator_id=integrator.id, code=code)
        if record is None:
            raise not_found(f"Application {code}")
        return ApplicationView.of(record, self_link=application_path(code))

    @app.get(
        "/v1/matters",
        response_model=MatterList,
        tags=["catalogue"],
        summary="The service catalogue (事项清单)",
        description="Public: every matter that can be applied for, to build forms from.",
    )
    async def list_matters() -> MatterList:
        return MatterList(matters=[MatterSummary.of(matter) for matter in catalogue.matters])

    @app.get(
        "/v1/matters/{matter_code}",
        response_model=MatterGuide,
        tags=["catalogue"],
        summary="One matter's guide (办事指南)",
        description="Departments and their committed limits, materials, shared-data checks.",
        responses=documented(404),
    )
    async def read_matter(
        matter_code: Annotated[str, Path(max_length=64, examples=["household-transfer"])],
    ) -> MatterGuide:
        matter = catalogue.matter(matter_code)
        if matter is None:
            raise not_found(f"Matter {matter_code}")
        return MatterGuide.of_matter(matter, catalogue)

    return app
