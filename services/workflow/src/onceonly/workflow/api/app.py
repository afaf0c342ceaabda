"""The department API's app factory: it only wires state, lifespan, problems, metrics,
the access log and the routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.service import RPCError

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.platform.access_log import AccessLogMiddleware
from onceonly.platform.auth import staff_dependency
from onceonly.platform.db import DATABASE_TROUBLE, create_pool, prepare_database
from onceonly.platform.deferral_store import refresh_deferred_gauges
from onceonly.platform.heartbeat import stale_components
from onceonly.platform.http import health_router, install_problem_handlers
from onceonly.platform.limits import ApiLimits, install_limits
from onceonly.platform.metrics import ConsumerLagMonitor, instrument_api, refresh_periodically
from onceonly.platform.request_rules import install_request_rules
from onceonly.platform.telemetry import ServiceAPI
from onceonly.workflow.api import (
    acceptance,
    applications,
    assignments,
    cases,
    codec,
    decisions,
    elicences,
    extensions,
    lead_department,
    special_procedures,
    tasks,
    work_orders,
)
from onceonly.workflow.api.dependencies import DaysLeft, DepartmentState
from onceonly.workflow.bridge import consumer_group
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.temporal import connect, payload_codec

STAFF_ROLES = ("reviewer", "department_head", "window")
# Who may read applications' Temporal histories decrypted (the codec endpoint): those
# who read every application on the tracking API too.
OPERATOR_ROLES = ("operations", "supervision")
ROUTERS = (
    tasks.router,
    work_orders.router,
    cases.router,
    applications.router,
    decisions.router,
    assignments.router,
    special_procedures.router,
    lead_department.router,
    extensions.router,
    acceptance.router,
    codec.router,
    elicences.router,
)


def create_app(settings: WorkflowSettings, *, client: Client | None = None) -> FastAPI:
    """The department API; `client` is connected from `settings` at startup if not given."""
    app = ServiceAPI(
        title="Once-Only department API",
        version="1.0.0",
        description="Department staff list their tasks and record decisions (审批决定).",
        lifespan=_lifespan,
    )
    state = app.state.department = _state(settings, client)
    install_problem_handlers(app)
    install_request_rules(app)
    lag = ConsumerLagMonitor(settings.kafka_bootstrap, [consumer_group(settings)])
    instrument_api(
        app,
        service="workflow",
        background={
            "consumer-lag": lambda: lag.run(settings.metrics_refresh_seconds),
            "deferred-events": refresh_periodically(
                "deferred events",
                partial(_refresh_deferred, state),
                settings.metrics_refresh_seconds,
            ),
        },
    )
    # Outermost but for the access log: sizes and read times before any token is read.
    install_limits(
        app,
        ApiLimits(
            max_body_bytes=settings.workflow_api_max_body_bytes,
            body_read_seconds=settings.api_body_read_seconds,
            staff_read_rate_per_second=settings.workflow_api_staff_read_rate_per_second,
            staff_read_burst=settings.workflow_api_staff_read_burst,
        ),
    )
    app.add_middleware(AccessLogMiddleware, service="workflow")
    app.include_router(health_router(partial(_health, state), ready=partial(_ready, state)))
    for router in ROUTERS:
        app.include_router(router)
    return app


def _state(settings: WorkflowSettings, client: Client | None) -> DepartmentState:
    calendar_dir = Path(settings.calendar_dir) if settings.calendar_dir else None
    tokens = settings.staff_tokens()
    return DepartmentState(
        settings=settings,
        authenticate=staff_dependency(tokens, roles=STAFF_ROLES),
        days_left=DaysLeft(default_catalogue(), default_calendar(calendar_dir)),
        authenticate_operator=staff_dependency(tokens, roles=OPERATOR_ROLES),
        codec=payload_codec(settings),
        client=client,
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: DepartmentState = app.state.department
    pool = await create_pool(state.settings.database_url, max_size=3)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    state.pool = pool
    state.client = state.client or await connect(state.settings)
    yield
    if state.producer is not None:
        await state.producer.stop()
    await pool.close()


async def _refresh_deferred(state: DepartmentState) -> None:
    """The bridge's deferred events (it has no HTTP port of its own)."""
    if state.pool is not None:
        await refresh_deferred_gauges(state.pool, [consumer_group(state.settings).group_id])


async def _ready(state: DepartmentState) -> dict[str, str]:
    """The department API answers from Postgres and Temporal; the worker's and the
    bridge's state is not this process's."""
    assert state.pool is not None and state.client is not None  # set by the lifespan
    problems: dict[str, str] = {}
    try:
        await state.pool.fetchval("SELECT 1")
    except DATABASE_TROUBLE as exc:
        problems["postgres"] = f"{type(exc).__name__}: {exc}"
    try:
        await state.client.service_client.check_health()
    except RPCError as exc:
        problems["temporal"] = str(exc)
    return problems


async def _health(state: DepartmentState) -> dict[str, str]:
    assert state.pool is not None  # set by the lifespan
    problems = await _ready(state)
    if "postgres" in problems:
        return problems
    stale = await stale_components(
        state.pool,
        ["workflow-worker", "workflow-bridge"],
        max_age_seconds=state.settings.heartbeat_seconds * 5,
    )
    return {**stale, **problems}
