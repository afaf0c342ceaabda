"""The console's sign-in through the single sign-on provider (OIDC authorization code
with PKCE): a provider this test serves on loopback (its JWKS and token endpoint) issues
the code and the token; the API checks the state, sends the verifier, checks the token
as any provider token and sets the session cookie; anything wrong sends the browser back
to the console refused, and no session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from onceonly.platform.auth import SESSION_COOKIE
from onceonly.platform.testing import fresh_database, migrated_pool
from onceonly.tracking.api import create_app
from onceonly.tracking.api.sign_on import FLOW_COOKIE
from onceonly.tracking.settings import TrackingSettings

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"
CALLBACK = "http://t/v1/session/oidc/callback"

pytestmark = pytest.mark.integration


@pytest.fixture
async def console(provider, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        fresh_database(database_url) as dsn,
        migrated_pool(dsn, component="tracking", package="onceonly.tracking", max_size=2) as pool,
    ):
        settings = TrackingSettings(
            environment="development",
            database_url=dsn,
            tracking_api_token_keys=KEYS,
            staff_oidc_issuer=provider.issuer,
            staff_oidc_audience=provider.audience,
            staff_oidc_jwks_url=provider.url("/jwks"),
            tracking_console_oidc_authorization_url="http://sso.test/authorize",
            tracking_console_oidc_token_url=provider.url("/token"),
            tracking_console_oidc_client_id="onceonly-console",
            tracking_console_oidc_redirect_url=CALLBACK,
        )
        app = create_app(settings, pool=pool)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                yield client


async def test_the_console_signs_in_through_the_provider(provider, console) -> None:
    assert (await console.get("/v1/session/options")).json() == {"single_sign_on": True}
    started = await console.get("/v1/session/oidc")
    assert started.status_code == 302
    location = started.headers["location"]
    assert location.startswith("http://sso.test/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["onceonly-console"]
    assert "HttpOnly" in started.headers["set-cookie"]

    back = await console.get(provider.authorize(location))
    assert back.status_code == 303 and back.headers["location"] == "/dashboard"
    assert SESSION_COOKIE in console.cookies and FLOW_COOKIE not in console.cookies
    # The verifier went to the provider with the code, never in the browser's URL.
    assert provider.exchanges[-1]["code_verifier"][0] not in location
    me = (await console.get("/v1/session")).json()
    assert (me["staff_id"], me["department_code"], me["region"]) == (
        "wang.jc",
        "supervision-office",
        "330100",
    )
    # The session is the city supervisor's: another city's figures are refused.
    period = {"from": "2026-01-01T00:00:00", "to": "2026-02-01T00:00:00"}
    ningbo = await console.get("/v1/supervision/figures", params={**period, "region": "330200"})
    assert ningbo.status_code == 403


@pytest.mark.parametrize(
    "tamper",
    ["state", "code", "claims", "no-flow-cookie"],
)
async def test_a_sign_on_that_does_not_add_up_is_refused(provider, console, tamper) -> None:
    location = (await console.get("/v1/session/oidc")).headers["location"]
    back = provider.authorize(location)
    if tamper == "state":
        back = back.replace("state=", "state=forged")
    elif tamper == "code":
        back = back.replace("code=", "code=forged")
    elif tamper == "claims":
        provider.claims = {"department": "no-such-department", "roles": ["reviewer"]}
    else:
        console.cookies.clear()
    answer = await console.get(back)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard?signin=refused"
    assert SESSION_COOKIE not in console.cookies
    assert (await console.get("/v1/session")).status_code == 401
