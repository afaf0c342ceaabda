"""The notify process's HTTP side: health, metrics, and what was sent for an application.

Its lifespan runs the approval-events consumer (NotifyRuntime), so one process serves
both; served by `onceonly-notify run`. `create_app` only wires: the runtime on
`app.state.runtime`, problems, metrics, the access log, health, the staff routers
(`staff_api`) and the integrators' router (`integrator_api`).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import asyncpg
from fastapi import FastAPI

from onceonly.notify.integrator_api import integrator_router
from onceonly.notify.providers import Provider
from onceonly.notify.runtime import CONSUMER_NAME, NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.notify.staff_api import notifications_router, webhook_deliveries_router
from onceonly.notify.webhook_transport import Resolve, system_resolve
from onceonly.platform.access_log import AccessLogMiddleware
from onceonly.platform.db import DATABASE_TROUBLE
from onceonly.platform.deferral_store import refresh_deferred_gauges
from onceonly.platform.http import health_router, install_problem_handlers
from onceonly.platform.limits import ApiLimits, install_limits
from onceonly.platform.metrics import (
    ConsumerGroup,
    ConsumerLagMonitor,
    instrument_api,
    refresh_periodically,
)
from onceonly.platform.pii import PiiSealer
from onceonly.platform.request_rules import install_request_rules
from onceonly.platform.telemetry import ServiceAPI

STAFF_ROUTERS = (notifications_router, webhook_deliveries_router)


def create_app(
    settings: NotifySettings,
    *,
    pool: asyncpg.Pool | None = None,
    provider: Provider | None = None,
    resolve: Resolve = system_resolve,
) -> FastAPI:
    """The app; its lifespan starts and stops the consumer. `pool`, `provider` and
    `resolve` (webhook hosts' addresses) for tests."""
    app = ServiceAPI(
        title="Once-Only notify",
        version="1.0.0",
        description="Citizen notifications: delivery ledger and the local provider's messages.",
        lifespan=_lifespan,
    )
    runtime = app.state.runtime = NotifyRuntime(
        settings, pool=pool, provider=provider, resolve=resolve
    )
    install_problem_handlers(app)
    install_request_rules(app)
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap,
        [ConsumerGroup(CONSUMER_NAME, settings.notify_consumer_group, runtime.consumed_topics)],
    )
    instrument_api(
        app,
        service="notify",
        background={
            "consumer-lag": lambda: lag.run(settings.metrics_refresh_seconds),
            "deferred-events": refresh_periodically(
                "deferred events",
                partial(_refresh_deferred, runtime),
                settings.metrics_refresh_seconds,
            ),
        },
    )
    # Outermost but for the access log: sizes and read times before any token is read.
    install_limits(
        app,
        ApiLimits(
            max_body_bytes=settings.notify_max_body_bytes,
            body_read_seconds=settings.api_body_read_seconds,
            staff_read_rate_per_second=settings.notify_staff_read_rate_per_second,
            staff_read_burst=settings.notify_staff_read_burst,
        ),
    )
    app.add_middleware(AccessLogMiddleware, service="notify")
    app.include_router(health_router(partial(_health, runtime)))
    for router in STAFF_ROUTERS:
        app.include_router(router)
    # Integrators: their webhook URL, their own delivery log and replays, by their intake
    # API key.
    app.include_router(
        integrator_router(
            lambda: runtime.pool,
            runtime.retry_policy.give_up_after,
            sealer=PiiSealer(settings.pii_keys.get_secret_value()),
            destinations=settings.webhook_destinations,
        )
    )
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: NotifyRuntime = app.state.runtime
    try:
        await runtime.start()
        yield
    finally:
        await runtime.stop()


async def _refresh_deferred(runtime: NotifyRuntime) -> None:
    if runtime.pool is not None:
        await refresh_deferred_gauges(runtime.pool, [runtime.settings.notify_consumer_group])


async def _health(runtime: NotifyRuntime) -> dict[str, str]:
    problems: dict[str, str] = {}
    if runtime.pool is None:
        problems["postgres"] = "not connected"
    else:
        try:
            await runtime.pool.fetchval("SELECT 1")
        except DATABASE_TROUBLE as exc:
            problems["postgres"] = f"{type(exc).__name__}: {exc}"
    problems.update(runtime.problems())
    return problems
