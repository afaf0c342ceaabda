"""`/v1/session/oidc`: the console's sign-in through the government's single sign-on
(OIDC authorization code flow with PKCE, RFC 7636).

`GET /v1/session/oidc` sends the browser to the provider with a fresh `state` and a
code challenge; the state and the verifier wait in a short-lived HttpOnly cookie of this
path only. The provider sends the browser back to `/v1/session/oidc/callback` with a
code; the API checks the state against the cookie, exchanges the code (with the
verifier) at the token endpoint, checks the access token as every staff API checks the
provider's tokens (signature by the JWKS, issuer, audience, lifetime, roles, the
department in the catalogue, the division), and sets the same session cookie as a
sign-in against the staff directory. Whatever fails sends the browser back to the
console with `?signin=refused`, and the reason goes to the log, not to the page.
"""

import base64
import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from fastapi import APIRouter, Cookie, Query
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from onceonly.platform.auth import authenticate_staff
from onceonly.platform.http import Problem
from onceonly.platform.settings import development_refusal
from onceonly.tracking.api.dependencies import State
from onceonly.tracking.api.session import set_session

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/v1/session")

FLOW_COOKIE = "onceonly_sign_on"
FLOW_PATH = "/v1/session/oidc"
FLOW_SECONDS = 600


class SignInOptions(BaseModel):
    # Whether the console offers the single sign-on button.
    single_sign_on: bool


@router.get("/options", response_model=SignInOptions, summary="How staff may sign in")
async def sign_in_options(state: State) -> SignInOptions:
    return SignInOptions(
        single_sign_on=bool(state.settings.tracking_console_oidc_authorization_url)
    )


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@router.get(
    "/oidc",
    summary="Sign in through the single sign-on provider (redirects there)",
    responses={302: {}, 404: {}},
    response_class=RedirectResponse,
    status_code=302,
)
async def start_sign_on(state: State) -> RedirectResponse:
    settings = state.settings
    if not settings.tracking_console_oidc_authorization_url:
        raise Problem(404, "Not found", "Single sign-on is not configured. 未配置统一身份认证.")
    flow_state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.tracking_console_oidc_client_id,
            "redirect_uri": settings.tracking_console_oidc_redirect_url,
            "scope": "openid",
            "state": flow_state,
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{settings.tracking_console_oidc_authorization_url}?{query}", 302)
    response.set_cookie(
        FLOW_COOKIE,
        f"{flow_state}.{verifier}",
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        # Lax: the provider's redirect back is a top-level GET from its site.
        samesite="lax",
        secure=development_refusal(settings) is not None,
    )
    return response


@router.get(
    "/oidc/callback",
    summary="Where the provider sends the browser back (sets the session cookie)",
    response_class=RedirectResponse,
    status_code=303,
)
async def finish_sign_on(
    state: State,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    returned_state: Annotated[str | None, Query(alias="state", max_length=256)] = None,
    flow: Annotated[str | None, Cookie(alias=FLOW_COOKIE, max_length=512)] = None,
) -> RedirectResponse:
    settings = state.settings
    expected, _, verifier = (flow or "").partition(".")
    if not (code and returned_state and expected and verifier) or not hmac.compare_digest(
        expected, returned_state
    ):
        return _refused("the state does not match the one this browser was given")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.tracking_console_oidc_redirect_url,
        "client_id": settings.tracking_console_oidc_client_id,
        "code_verifier": verifier,
    }
    if secret := settings.tracking_console_oidc_client_secret.get_secret_value():
        form["client_secret"] = secret
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(settings.tracking_console_oidc_token_url, data=form)
        access_token = answer.json().get("access_token") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        access_token = None
    if not isinstance(access_token, str):
        return _refused("the token endpoint gave no access token")
    try:
        # Only the provider's tokens: never one signed with this API's own keys.
        if jwt.get_unverified_header(access_token).get("alg") == "HS256":
            return _refused("the token endpoint gave a local token")
    except jwt.PyJWTError:
        return _refused("the token endpoint gave no token")
    tokens = settings.staff_tokens()
    try:
        who = await authenticate_staff(tokens, access_token)
    except Problem as refused:
        return _refused(f"the provider's token is refused: {refused.detail}")
    response = RedirectResponse("/dashboard", 303)
    set_session(response, settings, who)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    log.info("console signed in by single sign-on", staff_id=who.staff_id)
    return response


def _refused(why: str) -> RedirectResponse:
    log.warning("console single sign-on refused", reason=why)
    response = RedirectResponse("/dashboard?signin=refused", 303)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
