"""The tracking API's app factory: it only wires state, lifespan, problems, metrics, the
access log and the routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.access_log import AccessLogMiddleware
from onceonly.platform.db import DATABASE_TROUBLE, create_pool, prepare_database
from onceonly.platform.deferral_store import refresh_deferred_gauges
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import health_router, install_problem_handlers
from onceonly.platform.limits import ApiLimits, install_limits
from onceonly.platform.metrics import (
    ConsumerGroup,
    ConsumerLagMonitor,
    instrument_api,
    refresh_periodically,
)
from onceonly.platform.request_rules import install_request_rules
from onceonly.platform.telemetry import ServiceAPI
from onceonly.tracking.agents import app_id, stream_topics
from onceonly.tracking.api import (
    applications,
    dashboard,
    search,
    session,
    sign_on,
    supervision,
)
from onceonly.tracking.api.dependencies import TrackingState, database_pool
from onceonly.tracking.metrics import refresh_open_tasks
from onceonly.tracking.processing import AGENT_COMPONENT
from onceonly.tracking.settings import TrackingSettings

ROUTERS = (
    applications.router,
    search.router,
    session.router,
    sign_on.router,
    supervision.router,
    dashboard.router,
)


def create_app(settings: TrackingSettings, *, pool: asyncpg.Pool | None = None) -> FastAPI:
    """The API; with `pool` given (tests) it uses that pool and leaves it open."""
    app = ServiceAPI(
        title="Once-Only tracking API",
        version="1.0.0",
        description="Timelines (全程留痕), their verification and application status.",
        lifespan=partial(_lifespan, own_pool=pool is None),
    )
    calendar = default_calendar(Path(settings.calendar_dir) if settings.calendar_dir else None)
    state = app.state.tracking = TrackingState(
        settings=settings,
        calendar=calendar,
        pool=pool,
        checkpoint_keys=settings.checkpoint_public_keys(),
    )
    install_problem_handlers(app)
    install_request_rules(app)
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap,
        [ConsumerGroup("tracking", app_id(settings), list(stream_topics(settings).values()))],
    )
    every = settings.metrics_refresh_seconds
    instrument_api(
        app,
        service="tracking",
        background={
            "consumer-lag": lambda: lag.run(every),
            "open-tasks": refresh_periodically(
                "open tasks gauge", lambda: refresh_open_tasks(database_pool(state)), every
            ),
            # The agent's (its faust web port serves no Prometheus metrics).
            "deferred-events": refresh_periodically(
                "deferred events",
                lambda: refresh_deferred_gauges(database_pool(state), [app_id(settings)]),
                every,
            ),
        },
    )
    # Outermost but for the access log: sizes and read times before any token is read.
    install_limits(
        app,
        ApiLimits(
            max_body_bytes=settings.tracking_max_body_bytes,
            body_read_seconds=settings.api_body_read_seconds,
            staff_read_rate_per_second=settings.tracking_staff_read_rate_per_second,
            staff_read_burst=settings.tracking_staff_read_burst,
        ),
    )
    app.add_middleware(AccessLogMiddleware, service="tracking")
    app.include_router(health_router(partial(_health, state), ready=partial(_ready, state)))
    for router in ROUTERS:
        app.include_router(router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI, *, own_pool: bool) -> AsyncIterator[None]:
    state: TrackingState = app.state.tracking
    pool = await create_pool(state.settings.database_url, max_size=5) if own_pool else state.pool
    assert pool is not None  # given, or just opened
    try:
        await prepare_database(pool, component="tracking", package="onceonly.tracking")
        state.pool = pool
        yield
    finally:
        if own_pool:
            state.pool = None
            await pool.close()


async def _ready(state: TrackingState) -> dict[str, str]:
    """The tracking API answers from Postgres; the agent's state is not this process's."""
    try:
        await database_pool(state).fetchval("SELECT 1")
    except DATABASE_TROUBLE as exc:
        return {"postgres": f"{type(exc).__name__}: {exc}"}
    return {}


async def _health(state: TrackingState) -> dict[str, str]:
    pool = database_pool(state)
    problems = await _ready(state)
    if problems:
        return problems
    return await stale_components(
        pool, [AGENT_COMPONENT], max_age_seconds=state.settings.tracking_agent_max_silence_seconds
    )
