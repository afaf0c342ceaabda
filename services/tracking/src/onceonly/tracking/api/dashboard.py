"""`/dashboard`: the supervision dashboard page (电子监察看板), outside the OpenAPI
document."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from onceonly.tracking.dashboard import DASHBOARD_CSP, DASHBOARD_HTML

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    # The page holds no data: its script calls the API with the session cookie that
    # signing in (api/session.py) sets.
    # X-Frame-Options, nosniff and Referrer-Policy come from the platform's middleware.
    return HTMLResponse(
        DASHBOARD_HTML,
        headers={"Content-Security-Policy": DASHBOARD_CSP},
    )
