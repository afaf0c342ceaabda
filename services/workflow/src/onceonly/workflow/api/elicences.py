"""Revoking an e-licence (吊销电子证照): operations staff, or the head of the issuing
department. Verification itself is public and lives on intake's API."""

from datetime import UTC, datetime
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Path, Request

from onceonly.platform.auth import StaffIdentity, staff_dependency
from onceonly.platform.http import Problem
from onceonly.workflow.api.dependencies import MatterCatalogue, State
from onceonly.workflow.api.models import ELicenceRevocationRequest, ELicenceRevocationView
from onceonly.workflow.elicence_revocation import (
    REVOKING_ROLES,
    ELicenceNotFound,
    revoke_elicence,
)

router = APIRouter(responses={401: {}, 403: {}, 404: {}, 422: {}, 503: {}})


async def revoking_staff(request: Request, state: State) -> StaffIdentity:
    """Operations staff or a department head (401, 403 problems); the app's own staff
    check admits reviewers and windows, who may not revoke."""
    check = staff_dependency(state.settings.staff_tokens(), roles=REVOKING_ROLES)
    return await check(request)


@router.post(
    "/v1/elicences/{number}/revocation",
    response_model=ELicenceRevocationView,
    summary="Revoke an e-licence, with a reason (operations, or the issuing department's head)",
)
async def revoke(
    who: Annotated[StaffIdentity, Depends(revoking_staff)],
    number: Annotated[str, Path(pattern=r"^EL-[A-Za-z0-9-]{6,40}$")],
    body: ELicenceRevocationRequest,
    state: State,
    catalogue: MatterCatalogue,
) -> ELicenceRevocationView:
    try:
        store, producer = await state.elicence_clients()
        result = await revoke_elicence(
            store=store,
            producer=producer,
            topic_prefix=state.settings.topic_prefix,
            catalogue=catalogue,
            number=number,
            reason=body.reason,
            who=who,
            now=datetime.now(UTC),
        )
    except ELicenceNotFound:
        # Not the staff's to revoke reads as unknown: no probing of other departments.
        raise Problem(
            404,
            "E-licence not found",
            f"No e-licence {number} that you may revoke. 未找到该电子证照.",
            type_="https://onceonly.dev/problems/not-found",
        ) from None
    except (KafkaError, OSError, TimeoutError):
        # The row may be written already: repeating publishes the same event (same id).
        raise Problem(
            503,
            "Revocation not published",
            "Kafka did not take the event; repeat the request. 吊销事件未发布, 请重试.",
            headers={"Retry-After": "5"},
        ) from None
    licence = result.licence
    assert licence.revoked_at is not None
    return ELicenceRevocationView(
        number=licence.number,
        application_code=licence.application_code,
        revoked_at=licence.revoked_at.astimezone(UTC).isoformat(),
        reason=licence.revocation_reason,
        revoked_by=licence.revoked_by,
        first=result.first,
    )
