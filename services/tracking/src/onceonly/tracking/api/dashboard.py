"""`/dashboard`: the supervision dashboard page (电子监察看板), outside the OpenAPI
document."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from onceonly.tracking.api.dependencies import State
from onceonly.tracking.dashboard import DASHBOARD_CSP, dashboard_page

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(state: State) -> HTMLResponse:
    # The page holds no data: its script calls the API with the session cookie that
    # signing in (api/session.py) sets.
    # X-Frame-Options, nosniff and Referrer-Policy come from the platform's middleware.
    settings = state.settings
    return HTMLResponse(
        dashboard_page(
            temporal_url=settings.tracking_console_temporal_url,
            traces_url=settings.tracking_console_traces_url,
        ),
        headers={"Content-Security-Policy": DASHBOARD_CSP},
    )
