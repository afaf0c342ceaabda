"""The integrators' side of webhooks: their webhook URL, their own delivery log, and a
replay of one of their deliveries, authenticated by the API key intake issued them
(Bearer, checked in the platform's key directory). An integrator sees only its own
deliveries; another's is "not found", never "forbidden" (no probing). A URL that
webhooks may not reach (`webhook_urls`) is a 422 that says why and never repeats the
URL."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import structlog
from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from onceonly.notify.errors import WebhookUrlRefused
from onceonly.notify.webhook_delivery import register_webhook
from onceonly.notify.webhook_store import WebhookStore
from onceonly.notify.webhook_urls import MAX_URL_LENGTH, DestinationPolicy, parse_webhook_url
from onceonly.platform.access_log import identify_caller
from onceonly.platform.http import Problem
from onceonly.platform.integrator_keys import PostgresIntegratorKeys
from onceonly.platform.pii import PiiSealer
from onceonly.platform.request_rules import BoundedDatetime

log = structlog.get_logger(__name__)

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
UNAUTHORISED = Problem(
    401,
    "Unauthorized",
    "A valid API key is required: `Authorization: Bearer oo_<key_id>_<secret>`.",
    headers={"WWW-Authenticate": 'Bearer realm="onceonly-notify"'},
)


class WebhookUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="https://, a public host name (or address), no user name or password, "
        "no fragment",
        examples=["https://portal.example.cn/hooks/onceonly"],
    )


class WebhookRegistrationView(BaseModel):
    integrator_id: str
    url: str  # as stored and sent to (normalised)
    key_id: str
    # The signing secret: shown in this answer only, never again.
    secret: str


class IntegratorDeliveryView(BaseModel):
    id: UUID
    event_id: str
    application_code: str
    event_type: str
    status: str  # pending (retrying), sent (delivered), failed
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


class IntegratorDeliveriesView(BaseModel):
    integrator_id: str
    deliveries: list[IntegratorDeliveryView]


def _view(row: dict[str, Any]) -> IntegratorDeliveryView:
    return IntegratorDeliveryView(
        event_type=str(row["cause_event_type"]).rsplit(".", 1)[-1],
        **{k: v for k, v in row.items() if k in IntegratorDeliveryView.model_fields},
    )


def url_problem(refused: WebhookUrlRefused) -> Problem:
    """The 422 for a refused webhook URL, in the shape of every validation problem."""
    return Problem(
        422,
        "Invalid request",
        "The webhook URL is not allowed; see `errors`. 该回调地址不被允许, 详见 errors.",
        type_="https://onceonly.dev/problems/validation",
        errors=[
            {
                "field": "url",
                "in": "body",
                "message": refused.reason,
                "code": f"webhook_url_{refused.code}",
            }
        ],
    )


def integrator_router(
    pool: Callable[[], asyncpg.Pool | None],
    give_up_after: timedelta,
    *,
    sealer: PiiSealer,
    destinations: DestinationPolicy,
) -> APIRouter:
    """The routes; `pool` gives the runtime's pool once it has started."""
    router = APIRouter(prefix="/v1/integrator/webhooks", tags=["integrator webhooks"])
    bearer = HTTPBearer(auto_error=False, scheme_name="IntegratorApiKey")

    async def current_integrator(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        current = pool()
        if credentials is None or current is None:
            raise UNAUTHORISED
        # The platform's key directory, where intake's admin CLI issues the keys.
        integrator_id = await PostgresIntegratorKeys(current).verify(credentials.credentials)
        if integrator_id is None:
            raise UNAUTHORISED
        structlog.contextvars.bind_contextvars(integrator_id=integrator_id)
        identify_caller(integrator_id=integrator_id)
        return integrator_id

    Integrator = Annotated[str, Depends(current_integrator)]

    def store() -> WebhookStore:
        current = pool()
        assert current is not None  # authentication needed it already
        return WebhookStore(current)

    @router.put(
        "",
        response_model=WebhookRegistrationView,
        summary="Set (or replace) your webhook URL, with a fresh signing secret shown only "
        "in this answer",
        responses={401: {}, 422: {}},
    )
    async def set_my_webhook(
        integrator_id: Integrator, body: WebhookUrlRequest, response: Response
    ) -> WebhookRegistrationView:
        try:
            url = parse_webhook_url(body.url, destinations)
        except WebhookUrlRefused as exc:
            log.info("webhook url refused", code=exc.code)
            raise url_problem(exc) from None
        key_id, secret = await register_webhook(store(), sealer, integrator_id, url)
        log.info("webhook registered", host=url.host, key_id=key_id)
        response.headers["Cache-Control"] = "no-store"
        return WebhookRegistrationView(
            integrator_id=integrator_id, url=url.url, key_id=key_id, secret=secret
        )

    @router.get(
        "/deliveries",
        response_model=IntegratorDeliveriesView,
        summary="Your webhook delivery log, newest first: status, attempts, next retry",
        responses={401: {}, 422: {}},
    )
    async def my_deliveries(
        integrator_id: Integrator,
        application_code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
        status: Literal["pending", "sent", "failed"] | None = None,
        before: Annotated[
            BoundedDatetime | None,
            Query(description="created before (paging); from 1970-01-01T00:00 to 2100-01-01T00:00"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> IntegratorDeliveriesView:
        rows = await store().for_integrator(
            integrator_id,
            application_code=application_code,
            status=status,
            before=before,
            limit=limit,
        )
        return IntegratorDeliveriesView(
            integrator_id=integrator_id, deliveries=[_view(row) for row in rows]
        )

    @router.post(
        "/deliveries/{delivery_id}/replay",
        response_model=IntegratorDeliveryView,
        status_code=202,
        summary="Send one of your webhook deliveries again, with a fresh retry window",
        responses={401: {}, 404: {}, 422: {}},
    )
    async def replay_my_delivery(
        integrator_id: Integrator, delivery_id: Annotated[UUID, Path()]
    ) -> IntegratorDeliveryView:
        row = await store().replay(
            delivery_id, give_up_after=give_up_after, integrator_id=integrator_id
        )
        if row is None:
            raise Problem(404, "Not found", f"no webhook delivery {delivery_id} of yours")
        log.info("webhook replay requested", delivery_id=str(delivery_id))
        return _view(row)

    return router
