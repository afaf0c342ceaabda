"""The integrator API's app factory: it only wires state, lifespan, problems,
middleware and the routers."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
import structlog
from fastapi import FastAPI

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.intake import metrics, outbox
from onceonly.intake.api import (
    applications,
    elicences,
    materials,
    matters,
    progress,
    progress_page,
    updates,
    work_orders,
)
from onceonly.intake.api.dependencies import IntakeState
from onceonly.intake.api.submission_path import SubmissionFastPath, submission_route
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.lockout_store import LockoutStore
from onceonly.intake.lookup_store import LookupStore
from onceonly.intake.middleware import DeadlineMiddleware
from onceonly.intake.openapi_examples import response_examples
from onceonly.intake.problems import UNAVAILABLE, document_problems, install_intake_handlers
from onceonly.intake.progress_lookup import ProgressLookup
from onceonly.intake.relay import RELAY_COMPONENT
from onceonly.intake.relay_wake import RelayWake
from onceonly.intake.service import IntakeService
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore
from onceonly.platform.access_log import AccessLogMiddleware
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import health_router, install_problem_handlers
from onceonly.platform.integrator_keys import PostgresIntegratorKeys, VerifiedKeyCache
from onceonly.platform.limits import BodyLimitMiddleware
from onceonly.platform.metrics import RequestMetricsMiddleware
from onceonly.platform.request_rules import install_request_rules
from onceonly.platform.telemetry import ServiceAPI

log = structlog.get_logger(__name__)

DESCRIPTION = (
    "For integrators (portals, apps, kiosks, the 12345 hotline, service-hall windows):"
    " submit applications for matters of the service catalogue and follow them.\n\n"
    "* Authenticate with `Authorization: Bearer oo_<key_id>_<secret>`.\n"
    "* Send an `Idempotency-Key` header with every POST: a retry with the same key"
    " and body returns the first answer; the same key with another body is a 422.\n"
    "* Errors are RFC 9457 `application/problem+json`; validation errors name each"
    " field in `errors`, with messages in English and Chinese."
)


def create_app(
    settings: IntakeSettings,
    *,
    pool: asyncpg.Pool | None = None,
    catalogue: Catalogue | None = None,
) -> FastAPI:
    """The API; with `pool` given (tests) it uses that pool and leaves it open."""
    catalogue = catalogue or default_catalogue()
    app = ServiceAPI(
        title="Once-Only intake API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    state = app.state.intake = IntakeState.of(settings, catalogue, pool)
    install_problem_handlers(app)
    install_intake_handlers(app)
    # Added first, so innermost of the middleware: inside the security headers too.
    app.add_middleware(
        SubmissionFastPath,
        state=state,
        route=submission_route(applications.router),
        handlers=app.exception_handlers,
    )
    install_request_rules(app)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_body_bytes,
        read_seconds=settings.api_body_read_seconds,
        by_path={"/v1/materials": settings.material_max_bytes},
    )
    # Inside the metrics (so that timed-out requests are counted with their 503).
    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout_seconds, prefix="/v1/")
    app.add_middleware(RequestMetricsMiddleware, service="intake")
    # Outermost: the access log sees the 413s and 503s of the middleware inside it.
    app.add_middleware(AccessLogMiddleware, service="intake")
    app.include_router(health_router(partial(_health, state), ready=partial(_ready, state)))
    document_problems(app, response_examples(catalogue))
    for router in (
        applications.router,
        updates.router,
        materials.router(settings.material_max_bytes),
        progress.router,
        progress_page.router,
        elicences.router,
        matters.router,
        work_orders.router,
    ):
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: IntakeState = app.state.intake
    settings = state.settings
    # The API's queries leave no session state (no LISTEN, SET or cursor; the
    # migrations' advisory lock is released explicitly): no reset round trip per
    # checkout, of which a submission makes two.
    pool = state.given_pool or await create_pool(
        settings.database_url, max_size=settings.database_pool_max, reset_sessions=False
    )
    background: list[asyncio.Task[None]] = []
    try:
        await prepare_database(pool, component="intake", package="onceonly.intake")
        state.pool = pool
        wake = RelayWake(pool)
        state.store = ApplicationStore(
            pool,
            centre_seconds=settings.integrator_key_cache_seconds,
            outbox_written=wake.written,
        )
        state.keys = PostgresIntegratorKeys(pool)
        if settings.integrator_key_cache_seconds > 0:
            state.keys = VerifiedKeyCache(state.keys, seconds=settings.integrator_key_cache_seconds)
        state.service = IntakeService(
            store=state.store,
            catalogue=state.catalogue,
            sealer=state.sealer,
            region_code=settings.region_code,
            topic_prefix=settings.topic_prefix,
            idempotency_ttl_hours=settings.idempotency_ttl_hours,
            approvals=ApprovalStore(pool),
            lookups=LookupStore(pool),
        )
        state.progress_lookup = ProgressLookup(
            store=state.store,
            sealer=state.sealer,
            tokens=state.progress_tokens,
            lockout=LockoutStore(
                pool,
                # One budget per deployment: its topic prefix names it.
                scope=settings.topic_prefix,
                rule=settings.lockout_rule(),
            ),
            failures_per_minute=settings.progress_failures_per_minute,
        )
        background.append(asyncio.create_task(_refresh_backlog(state, pool)))
        background.append(asyncio.create_task(wake.run()))
        yield
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if state.given_pool is None:
            await pool.close()


async def _refresh_backlog(state: IntakeState, pool: asyncpg.Pool) -> None:
    """The outbox's backlog gauges, measured here, not by the relay, so that they are
    visible exactly when the relay is down."""
    while True:
        try:
            found = await outbox.backlog(pool, topic_prefix=state.settings.topic_prefix)
            metrics.OUTBOX_BACKLOG.set(found.rows)
            metrics.OUTBOX_OLDEST_SECONDS.set(found.oldest_seconds)
        except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
            log.warning("outbox backlog not measured", error=type(exc).__name__)
        await asyncio.sleep(max(state.settings.heartbeat_seconds, 1.0))


async def _ready(state: IntakeState) -> dict[str, str]:
    """Submissions need Postgres only (the outbox); the relay's state is not ours."""
    assert state.pool is not None  # set by the lifespan
    try:
        await state.pool.fetchval("SELECT 1")
    except (*UNAVAILABLE, asyncpg.PostgresError) as exc:
        return {"postgres": f"{type(exc).__name__}: {exc}"}
    return {}


async def _health(state: IntakeState) -> dict[str, str]:
    assert state.pool is not None  # set by the lifespan
    problems = await _ready(state)
    if problems:
        return problems
    return await stale_components(
        state.pool, [RELAY_COMPONENT], max_age_seconds=state.settings.relay_max_silence_seconds
    )
