"""What the integrator API's routes depend on, typed: the authenticated (and rate-limited)
integrator, the intake service, the catalogue, the settings, the upload store, and the
path and header parameters; with the helpers the routes share (idempotency, the 404 of a
malformed code, the JSON of a stored answer).

`create_app` puts one `IntakeState` on `app.state.intake`; its lifespan adds the
database pool and the service. Routes reach it only through these dependencies.
"""

# No `from __future__ import annotations`: FastAPI resolves the `Annotated` aliases.

from dataclasses import dataclass
from pathlib import Path as PathLib
from typing import Annotated, Any

import asyncpg
import orjson
import structlog
from anyio import CapacityLimiter
from fastapi import Depends, Header, Path, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from onceonly.catalogue import Catalogue
from onceonly.catalogue.calendar import WorkingCalendar, default_calendar
from onceonly.intake import metrics
from onceonly.intake.application_code import parse_application_code
from onceonly.intake.client_address import Network, client_address
from onceonly.intake.errors import InvalidValue
from onceonly.intake.idempotency import (
    IDEMPOTENCY_KEY_PATTERN,
    IdempotencyRequest,
    request_fingerprint,
    validate_key,
)
from onceonly.intake.problems import invalid, not_found, unauthorised
from onceonly.intake.progress import ProgressTokens
from onceonly.intake.progress_lookup import ProgressLookup
from onceonly.intake.service import Answer, IntakeService
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore
from onceonly.intake.upload_crypto import UploadCipher
from onceonly.intake.upload_store import UploadStore
from onceonly.platform.access_log import identify_caller
from onceonly.platform.canonical_json import canonical_json
from onceonly.platform.elicence_signatures import PublishedKeys
from onceonly.platform.integrator_keys import IntegratorKeys
from onceonly.platform.limits import retry_after_header, too_many_requests
from onceonly.platform.pii import PiiSealer
from onceonly.platform.shared_limits import SharedRateLimiter


@dataclass(frozen=True, slots=True)
class Integrator:
    id: str


@dataclass(slots=True)
class IntakeState:
    """What the routes share, built by `create_app`."""

    settings: IntakeSettings
    catalogue: Catalogue
    sealer: PiiSealer
    upload_cipher: UploadCipher  # encrypts stored materials (keys derived from PII keys)
    # Uploads parsed at once: decoding an image at the pixel bound takes ~120 MB.
    upload_parsers: CapacityLimiter
    # Shared by every replica (in Postgres): outsiders cannot multiply their budget by
    # spreading requests over the replicas.
    post_limiter: SharedRateLimiter  # POSTs per integrator
    progress_limiter: SharedRateLimiter  # citizen progress lookups per client address
    verification_limiter: SharedRateLimiter  # e-licence verifications per client address
    elicence_keys: PublishedKeys | None  # read once: None, verification answers 503
    progress_tokens: ProgressTokens  # lookup tokens (receipts issue, the lookup verifies)
    trusted_proxies: tuple[Network, ...]  # whose X-Forwarded-For is believed
    calendar: WorkingCalendar  # the working days left of the progress lookup
    given_pool: asyncpg.Pool | None = None  # tests' pool: used, and left open
    pool: asyncpg.Pool | None = None  # set by the lifespan
    store: ApplicationStore | None = None  # set by the lifespan
    keys: IntegratorKeys | None = None  # the platform's key directory; set by the lifespan
    service: IntakeService | None = None  # set by the lifespan
    progress_lookup: ProgressLookup | None = None  # set by the lifespan

    @classmethod
    def of(
        cls, settings: IntakeSettings, catalogue: Catalogue, pool: asyncpg.Pool | None
    ) -> "IntakeState":
        def shared(scope: str, rate_per_second: float, burst: int) -> SharedRateLimiter:
            # The state's pool once the lifespan has opened it (or the tests' pool).
            return SharedRateLimiter(
                lambda: state.pool,
                scope=f"{settings.topic_prefix}:{scope}",
                rate_per_second=rate_per_second,
                burst=burst,
            )

        state = cls(
            settings=settings,
            catalogue=catalogue,
            sealer=PiiSealer(settings.pii_keys.get_secret_value()),
            upload_cipher=UploadCipher.from_pii_keys(settings.pii_keys.get_secret_value()),
            upload_parsers=CapacityLimiter(2),
            post_limiter=shared(
                "integrator-posts",
                settings.integrator_post_rate_per_second,
                settings.integrator_post_burst,
            ),
            progress_limiter=shared(
                "progress-lookups",
                settings.progress_rate_per_minute / 60.0,
                settings.progress_burst,
            ),
            verification_limiter=shared(
                "elicence-verifications",
                settings.elicence_verification_rate_per_minute / 60.0,
                settings.elicence_verification_burst,
            ),
            elicence_keys=settings.elicence_public_keys(),
            progress_tokens=ProgressTokens(settings.pii_keys.get_secret_value()),
            trusted_proxies=settings.trusted_proxy_networks(),
            calendar=default_calendar(
                PathLib(settings.calendar_dir) if settings.calendar_dir else None
            ),
            given_pool=pool,
        )
        return state


# The dependencies are `async def` though they do not wait: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hand-off per dependency and request. Each
# reads the state from the request rather than depending on `State`: every dependency
# a route's graph visits costs FastAPI's resolver a little per request, a node reached
# again through a cache included.
def _state(request: Request) -> IntakeState:
    state: IntakeState = request.app.state.intake
    return state


async def intake_state(request: Request) -> IntakeState:
    return _state(request)


State = Annotated[IntakeState, Depends(intake_state)]


async def intake_settings(request: Request) -> IntakeSettings:
    return _state(request).settings


async def matter_catalogue(request: Request) -> Catalogue:
    return _state(request).catalogue


async def intake_service(request: Request) -> IntakeService:
    service = _state(request).service
    assert service is not None  # the lifespan builds it before requests are served
    return service


async def progress_lookup(request: Request) -> ProgressLookup:
    lookup = _state(request).progress_lookup
    assert lookup is not None  # built by the lifespan
    return lookup


async def request_client(request: Request) -> str:
    """The client's address for per-address limits (see `client_address`)."""
    peer = request.client.host if request.client else None
    return client_address(
        peer, request.headers.getlist("x-forwarded-for"), _state(request).trusted_proxies
    )


async def upload_store(request: Request) -> UploadStore:
    state = _state(request)
    assert state.pool is not None  # opened by the lifespan
    return UploadStore(state.pool, state.upload_cipher)


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="IntegratorApiKey",
    description="An integrator API key: `oo_<key_id>_<secret>` (from `onceonly-intake"
    " integrator create` or `key-create`).",
)


async def authenticated(state: IntakeState, token: str | None) -> Integrator:
    """The owner of the API key `token` (a 401 problem otherwise), named on the
    request's log line."""
    if token is None:
        raise unauthorised()
    assert state.keys is not None  # set by the lifespan
    integrator_id = await state.keys.verify(token)
    if integrator_id is None:
        raise unauthorised()
    structlog.contextvars.bind_contextvars(integrator_id=integrator_id)
    identify_caller(integrator_id=integrator_id)
    return Integrator(integrator_id)


async def within_post_budget(state: IntakeState, integrator: Integrator) -> None:
    """Spends one of the integrator's POSTs (a 429 problem when none is left)."""
    # After authentication: an unauthenticated flood spends nobody's budget.
    wait = await state.post_limiter.take(integrator.id)
    if wait is not None:
        metrics.RATE_LIMITED.labels("integrator").inc()
        raise too_many_requests(retry_after_header(wait))


async def current_integrator(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    request: Request,
) -> Integrator:
    """The owner of the bearer API key (a 401 problem otherwise)."""
    return await authenticated(_state(request), credentials.credentials if credentials else None)


CurrentIntegrator = Annotated[Integrator, Depends(current_integrator)]


async def posting_integrator(integrator: CurrentIntegrator, request: Request) -> Integrator:
    """The integrator, within its budget of POSTs (a 429 problem otherwise)."""
    await within_post_budget(_state(request), integrator)
    return integrator


PostingIntegrator = Annotated[Integrator, Depends(posting_integrator)]
Service = Annotated[IntakeService, Depends(intake_service)]
Lookup = Annotated[ProgressLookup, Depends(progress_lookup)]
ClientAddress = Annotated[str, Depends(request_client)]
MatterCatalogue = Annotated[Catalogue, Depends(matter_catalogue)]
Settings = Annotated[IntakeSettings, Depends(intake_settings)]
Uploads = Annotated[UploadStore, Depends(upload_store)]

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

REPLAYED_HEADER = {
    "description": "`true` when this is the stored first answer",
    "schema": {"type": "string"},
}


def code_or_404(application_code: str) -> str:
    """The parsed application code; a malformed one names no application: the same 404
    as an unknown one."""
    try:
        return str(parse_application_code(application_code))
    except InvalidValue:
        raise not_found(f"Application {application_code}") from None


def idempotency(
    request: Request, key: str | None, body: BaseModel | dict[str, Any]
) -> IdempotencyRequest | None:
    """The POST's idempotency key and fingerprint of `body` (a model is fingerprinted as
    its JSON dump), if it sent a key (a 422 problem if the key is malformed)."""
    return idempotency_at(request.url.path, key, body)


def idempotency_at(
    path: str, key: str | None, body: BaseModel | dict[str, Any]
) -> IdempotencyRequest | None:
    """`idempotency` of a POST to `path`."""
    if key is None:
        return None  # nothing to fingerprint: the body is not dumped
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
    dumped = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return IdempotencyRequest(key, request_fingerprint("POST", path, dumped))


def _sorted_json(value: object) -> bytes:
    """Keys sorted: the stored answer comes back from jsonb in another order, and a
    replay should be byte for byte the first answer (both come through here). orjson:
    about a tenth of the standard library's time; the canonical encoder for what orjson
    refuses (a key that is not a string, an int beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(value).encode()


def json_answer(
    answer: Answer, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Response:
    """The answer (or `body`, its model's dump) as JSON, `Idempotent-Replayed` on replays."""
    if answer.replayed:
        headers = {**headers, "Idempotent-Replayed": "true"}
    return Response(
        _sorted_json(answer.body if body is None else body),
        status_code=answer.status,
        headers=headers,
        media_type="application/json",
    )
