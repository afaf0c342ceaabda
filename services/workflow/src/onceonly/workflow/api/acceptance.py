"""The window's review at acceptance (受理审查): accept an application waiting for it,
or refuse one with a written decision (不予受理决定: number, reason, legal basis, appeal
route), also one that waits for a supplement."""

from dataclasses import asdict

from fastapi import APIRouter

from onceonly.workflow.api.dependencies import TASK_CHANGE_RESPONSES, WindowChange
from onceonly.workflow.api.models import AcceptanceReview, AcceptanceReviewView
from onceonly.workflow.shared import AcceptanceReviewInput
from onceonly.workflow.workflows import JointApproval

router = APIRouter(responses=TASK_CHANGE_RESPONSES)


@router.post(
    "/v1/applications/{code}/acceptance",
    response_model=AcceptanceReviewView,
    summary="Accept, or refuse with a written decision (window staff)",
)
async def review_acceptance(change: WindowChange, body: AcceptanceReview) -> AcceptanceReviewView:
    request = AcceptanceReviewInput(
        accept=body.decision == "accept",
        reason=body.reason,
        legal_basis=body.legal_basis,
        appeal_route=body.appeal_route,
        **change.acting,
    )
    result = await change.update(JointApproval.review_acceptance, request)
    return AcceptanceReviewView(**asdict(result))
