"""`/v1/session`: signing in to the operations console against the staff directory.

A successful sign-in sets the session cookie: a staff token of this API (the same
checks as any other, 8 hours at most), HttpOnly so that no script reads it,
SameSite=Strict so that no other site's page sends it, Secure outside development.
The API's other endpoints take it where no Authorization header is sent
(`auth.staff_dependency(cookie=True)`); they only read, and the cookie never leaves
this origin.
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from onceonly.platform.auth import SESSION_COOKIE, StaffIdentity
from onceonly.platform.http import Problem
from onceonly.platform.settings import development_refusal
from onceonly.platform.staff_directory import StaffDirectory
from onceonly.tracking.api.dependencies import Pool, Staff, State
from onceonly.tracking.settings import TrackingSettings

router = APIRouter(prefix="/v1/session")

SESSION_HOURS = 8.0


def set_session(response: Response, settings: TrackingSettings, who: StaffIdentity) -> float:
    """Sign `who` in to the console: the session cookie holds a staff token of this API
    for them (SESSION_HOURS, or less where tokens may live less). Returns its hours."""
    hours = min(SESSION_HOURS, settings.staff_token_max_hours)
    token = settings.staff_tokens().issue(
        staff_id=who.staff_id,
        department_code=who.department_code,
        roles=who.roles,
        ttl=timedelta(hours=hours),
        region=who.region,
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(hours * 3600),
        httponly=True,
        samesite="strict",
        secure=development_refusal(settings) is not None,
        path="/",
    )
    return hours


class SignIn(BaseModel):
    staff_id: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class SessionView(BaseModel):
    staff_id: str
    department_code: str
    roles: list[str]
    # The division worked for (what lies under it is in scope); "" the whole province.
    region: str = ""
    display_name: str | None = None
    expires_at: datetime | None = None


@router.post(
    "",
    response_model=SessionView,
    summary="Sign in to the console (staff directory); sets the session cookie",
    responses={401: {}, 422: {}},
)
async def sign_in(body: SignIn, response: Response, pool: Pool, state: State) -> SessionView:
    member = await StaffDirectory(pool).sign_in(body.staff_id, body.password)
    if member is None:
        raise Problem(
            401,
            "Not signed in",
            "Wrong staff id or password, or the account is locked for a while after"
            " repeated attempts. 工号或密码错误，或多次错误后暂时锁定.",
            type_="https://onceonly.dev/problems/unauthorised",
        )
    hours = set_session(
        response,
        state.settings,
        StaffIdentity(member.staff_id, member.department_code, member.roles, member.region),
    )
    return SessionView(
        staff_id=member.staff_id,
        department_code=member.department_code,
        roles=list(member.roles),
        region=member.region,
        display_name=member.display_name,
        expires_at=datetime.now(UTC) + timedelta(hours=hours),
    )


@router.get("", response_model=SessionView, summary="Who is signed in", responses={401: {}})
async def current(who: Staff) -> SessionView:
    return SessionView(
        staff_id=who.staff_id,
        department_code=who.department_code,
        roles=list(who.roles),
        region=who.region,
    )


@router.delete("", status_code=204, summary="Sign out (the session cookie is removed)")
async def sign_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
