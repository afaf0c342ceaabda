"""The notify process's HTTP side: health, metrics, and what was sent for an application.

Its lifespan runs the approval-events consumer (NotifyRuntime), so one process serves
both; served by `onceonly-notify run`.
"""

# No `from __future__ import annotations`: FastAPI resolves `Staff` and `Code` in the
# route signatures at definition time.

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, FastAPI, Path, Query
from pydantic import BaseModel

from onceonly.notify.integrator_api import integrator_router
from onceonly.notify.providers import Provider
from onceonly.notify.runtime import CONSUMER_NAME, NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.platform.auth import StaffIdentity, staff_dependency
from onceonly.platform.deferral_store import refresh_deferred_gauges
from onceonly.platform.http import Problem, health_router, install_problem_handlers
from onceonly.platform.metrics import (
    ConsumerGroup,
    ConsumerLagMonitor,
    instrument_api,
    refresh_periodically,
)

STAFF_ROLES = ("operations", "supervision")
# Webhook deliveries concern integrators, whom operations look after.
WEBHOOK_ROLES = ("operations",)
# Application codes are assigned by intake; this only keeps nonsense out of queries.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"


class DeliveryView(BaseModel):
    event_id: str
    cause_event_type: str
    channel: str
    recipient_masked: str
    status: str
    template: str
    language: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    segments: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    # The text as the local provider recorded it (other providers keep their own copy).
    body: str | None


class NotificationsView(BaseModel):
    application_code: str
    deliveries: list[DeliveryView]


class WebhookDeliveryView(BaseModel):
    id: UUID
    event_id: str
    integrator_id: str
    application_code: str
    cause_event_type: str
    status: str
    attempts: int
    # The JSON body as signed and sent (no personal data).
    payload: str | None
    next_attempt_at: datetime | None
    give_up_at: datetime | None
    http_status: int | None
    last_error: str | None
    replays: int
    created_at: datetime
    completed_at: datetime | None


class WebhookDeliveriesView(BaseModel):
    application_code: str
    deliveries: list[WebhookDeliveryView]


def create_app(
    settings: NotifySettings,
    *,
    pool: asyncpg.Pool | None = None,
    provider: Provider | None = None,
) -> FastAPI:
    """The app; its lifespan starts and stops the consumer. `pool`/`provider` for tests."""
    runtime = NotifyRuntime(settings, pool=pool, provider=provider)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Once-Only notify",
        version="1.0.0",
        description="Citizen notifications: delivery ledger and the local provider's messages.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    lag = ConsumerLagMonitor(
        settings.kafka_bootstrap,
        [
            ConsumerGroup(
                CONSUMER_NAME,
                settings.notify_consumer_group,
                runtime.consumed_topics,
            )
        ],
    )

    async def refresh_deferred() -> None:
        if runtime.pool is not None:
            await refresh_deferred_gauges(runtime.pool, [settings.notify_consumer_group])

    instrument_api(
        app,
        service="notify",
        background={
            "consumer-lag": lambda: lag.run(settings.metrics_refresh_seconds),
            "deferred-events": refresh_periodically(
                "deferred events", refresh_deferred, settings.metrics_refresh_seconds
            ),
        },
    )
    staff = staff_dependency(settings.signing_secret.get_secret_value(), roles=STAFF_ROLES)
    Staff = Annotated[StaffIdentity, Depends(staff)]
    Operations = Annotated[
        StaffIdentity,
        Depends(staff_dependency(settings.signing_secret.get_secret_value(), roles=WEBHOOK_ROLES)),
    ]
    Code = Annotated[str, Query(pattern=CODE_PATTERN, description="The application code")]

    async def health_check() -> dict[str, str]:
        problems: dict[str, str] = {}
        if runtime.pool is None:
            problems["postgres"] = "not connected"
        else:
            try:
                await runtime.pool.fetchval("SELECT 1")
            except (OSError, asyncpg.PostgresError) as exc:
                problems["postgres"] = f"{type(exc).__name__}: {exc}"
        problems.update(runtime.problems())
        return problems

    app.include_router(health_router(health_check))

    @app.get(
        "/v1/notifications",
        response_model=NotificationsView,
        summary="What was sent to an application's applicant, by which channel, and how",
        responses={401: {}, 403: {}, 422: {}},
    )
    async def list_notifications(_: Staff, application_code: Code) -> NotificationsView:
        assert runtime.ledger is not None  # set before the app serves requests
        rows: list[dict[str, Any]] = await runtime.ledger.for_application(application_code)
        return NotificationsView(
            application_code=application_code,
            deliveries=[DeliveryView(**row) for row in rows],
        )

    @app.get(
        "/v1/webhooks/deliveries",
        response_model=WebhookDeliveriesView,
        summary="The webhook delivery log of an application: attempts, status, next retry",
        responses={401: {}, 403: {}, 422: {}},
    )
    async def list_webhook_deliveries(
        _: Operations, application_code: Code
    ) -> WebhookDeliveriesView:
        assert runtime.webhooks is not None
        rows = await runtime.webhooks.for_application(application_code)
        return WebhookDeliveriesView(
            application_code=application_code,
            deliveries=[WebhookDeliveryView(**row) for row in rows],
        )

    @app.post(
        "/v1/webhooks/deliveries/{delivery_id}/replay",
        response_model=WebhookDeliveryView,
        status_code=202,
        summary="Send a webhook delivery again (whatever its status), with a fresh retry window",
        responses={401: {}, 403: {}, 404: {}, 422: {}},
    )
    async def replay_webhook_delivery(
        _: Operations, delivery_id: Annotated[UUID, Path()]
    ) -> WebhookDeliveryView:
        assert runtime.webhooks is not None
        row = await runtime.webhooks.replay(
            delivery_id, give_up_after=runtime.retry_policy.give_up_after
        )
        if row is None:
            raise Problem(404, "Not found", f"no webhook delivery {delivery_id}")
        return WebhookDeliveryView(**row)

    # Integrators: their own webhook delivery log and replays, by their intake API key.
    app.include_router(integrator_router(lambda: runtime.pool, runtime.retry_policy.give_up_after))

    return app
