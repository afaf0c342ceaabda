"""Public e-licence verification (电子证照核验): no API key, limited per client address."""

# No `from __future__ import annotations`: FastAPI resolves the route annotations.

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from onceonly.intake import metrics
from onceonly.intake.api.dependencies import ClientAddress, State
from onceonly.intake.approval_store import ApprovalStore
from onceonly.intake.elicence_verification import verify_online
from onceonly.intake.problems import documented
from onceonly.intake.schemas import ELicenceVerificationView, PublishedKeysView
from onceonly.platform.elicence_signatures import MAX_TOKEN_CHARS
from onceonly.platform.http import Problem
from onceonly.platform.limits import retry_after_header, too_many_requests

router = APIRouter(tags=["citizens"])


def _not_configured() -> Problem:
    return Problem(
        503,
        "E-licence verification is not configured",
        "No published e-licence keys (ONCEONLY_ELICENCE_PUBLIC_KEYS_FILE). 电子证照核验未配置.",
        headers={"Retry-After": "3600"},
    )


@router.get(
    "/v1/elicences/verification",
    response_model=ELicenceVerificationView,
    summary="Verify an e-licence (电子证照核验)",
    description=(
        "No API key: for anyone holding an e-licence (a bank, an employer, another"
        " department). Give the token its QR code carries (`t`, as in the QR code's URL)."
        " Answers `genuine`, `revoked`, `expired` or `unknown`, and only what the licence"
        " itself shows. Limited per client address."
    ),
    responses=documented(422, 429, 503),
)
async def verify_elicence(
    t: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_TOKEN_CHARS,
            description="The token: base64url(payload).base64url(signature)",
            examples=["eyJhbGciOiJlZDI1NTE5Ii.75FA5KRQ3jSkaCXWe6U4Y2GQ"],
        ),
    ],
    state: State,
    client: ClientAddress,
) -> ELicenceVerificationView:
    wait = await state.verification_limiter.take(client)
    if wait is not None:
        metrics.RATE_LIMITED.labels("elicence-verification").inc()
        raise too_many_requests(retry_after_header(wait))
    keys = state.elicence_keys
    if keys is None:
        raise _not_configured()
    assert state.pool is not None  # opened by the lifespan
    answer = await verify_online(
        t, keys, state_of=ApprovalStore(state.pool).state_of, now=datetime.now(UTC)
    )
    return ELicenceVerificationView.model_validate(answer.to_json())


@router.get(
    "/v1/elicences/keys",
    response_model=PublishedKeysView,
    summary="The published e-licence keys (for offline verification)",
    description=(
        "Key id -> public key of every key that signs or has signed e-licences; give the"
        " document to `onceonly-workflow elicence verify --keys` to verify offline."
    ),
    responses=documented(503),
)
async def published_keys(state: State) -> PublishedKeysView:
    keys = state.elicence_keys
    if keys is None:
        raise _not_configured()
    return PublishedKeysView.model_validate(keys.to_json())
