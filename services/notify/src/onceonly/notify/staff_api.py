"""The staff's side of notify: what was sent for an application (operations and
supervision), and the webhook delivery log of an application and its replays
(operations, who look after integrators). Staff sign in with a staff token (Bearer).

One router per resource (`notifications_router`, `webhook_deliveries_router`) and typed
dependencies. `create_app` puts the `NotifyRuntime` on `app.state.runtime` and its
lifespan starts it; routes reach it only through these dependencies.
"""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.store import DeliveryLedger
from onceonly.notify.webhook_store import WebhookStore
from onceonly.platform.auth import (
    SignedInStaff,
    StaffIdentity,
    StaffTokens,
    in_region,
    region_prefix,
)
from onceonly.platform.http import Problem

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


def notify_runtime(request: Request) -> NotifyRuntime:
    return request.app.state.runtime


Runtime = Annotated[NotifyRuntime, Depends(notify_runtime)]


def _staff_tokens(request: Request) -> StaffTokens:
    return notify_runtime(request).settings.staff_tokens()


def SignedIn(*roles: str) -> SignedInStaff:
    return SignedInStaff(*roles, tokens=_staff_tokens)


def delivery_ledger(runtime: Runtime) -> DeliveryLedger:
    assert runtime.ledger is not None  # set before the app serves requests
    return runtime.ledger


def webhook_store(runtime: Runtime) -> WebhookStore:
    assert runtime.webhooks is not None  # set before the app serves requests
    return runtime.webhooks


def replay_window(runtime: Runtime) -> timedelta:
    """How long a replayed delivery is retried before it is given up."""
    return runtime.retry_policy.give_up_after


Staff = Annotated[StaffIdentity, Depends(SignedIn(*STAFF_ROLES))]
Operations = Annotated[StaffIdentity, Depends(SignedIn(*WEBHOOK_ROLES))]
Ledger = Annotated[DeliveryLedger, Depends(delivery_ledger)]
Webhooks = Annotated[WebhookStore, Depends(webhook_store)]
ReplayWindow = Annotated[timedelta, Depends(replay_window)]

Code = Annotated[str, Query(pattern=CODE_PATTERN, description="The application code")]

notifications_router = APIRouter(prefix="/v1/notifications")
webhook_deliveries_router = APIRouter(prefix="/v1/webhooks/deliveries")


@notifications_router.get(
    "",
    response_model=NotificationsView,
    summary="What was sent to an application's applicant, by which channel, and how",
    responses={401: {}, 403: {}, 422: {}},
)
async def list_notifications(
    who: Staff, ledger: Ledger, application_code: Code
) -> NotificationsView:
    # 行政区划: outside the staff's division, the same answer as for an unknown code.
    within = in_region(who, await ledger.region_of(application_code))
    rows = await ledger.for_application(application_code) if within else []
    return NotificationsView(
        application_code=application_code,
        deliveries=[DeliveryView(**row) for row in rows],
    )


@webhook_deliveries_router.get(
    "",
    response_model=WebhookDeliveriesView,
    summary="The webhook delivery log of an application: attempts, status, next retry",
    responses={401: {}, 403: {}, 422: {}},
)
async def list_webhook_deliveries(
    who: Operations, ledger: Ledger, webhooks: Webhooks, application_code: Code
) -> WebhookDeliveriesView:
    within = in_region(who, await ledger.region_of(application_code))
    rows = await webhooks.for_application(application_code) if within else []
    return WebhookDeliveriesView(
        application_code=application_code,
        deliveries=[WebhookDeliveryView(**row) for row in rows],
    )


@webhook_deliveries_router.post(
    "/{delivery_id}/replay",
    response_model=WebhookDeliveryView,
    status_code=202,
    summary="Send a webhook delivery again (whatever its status), with a fresh retry window",
    responses={401: {}, 403: {}, 404: {}, 422: {}},
)
async def replay_webhook_delivery(
    who: Operations,
    webhooks: Webhooks,
    give_up_after: ReplayWindow,
    delivery_id: Annotated[UUID, Path()],
) -> WebhookDeliveryView:
    row = await webhooks.replay(
        delivery_id,
        give_up_after=give_up_after,
        region_prefix=region_prefix(who.region) if who.region else None,
    )
    if row is None:
        raise Problem(404, "Not found", f"no webhook delivery {delivery_id}")
    return WebhookDeliveryView(**row)
