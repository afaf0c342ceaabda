"""Signing in to the console: /v1/session against the staff directory, the session
cookie in place of a header, the lockout and signing out."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from onceonly.platform.auth import SESSION_COOKIE
from onceonly.platform.staff_directory import MAX_FAILURES, StaffDirectory
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"
PASSWORD = "a long enough passphrase"


@pytest.fixture
async def client(database_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    settings = TrackingSettings(
        environment="development", database_url=database_url, tracking_api_token_keys=KEYS
    )
    app = create_app(settings, pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def staff(
    pool: asyncpg.Pool, department: str = "tax", role: str = "reviewer", region: str = ""
) -> str:
    staff_id = f"s-{uuid.uuid4().hex[:10]}"
    await StaffDirectory(pool).put(
        staff_id=staff_id,
        display_name="李审查",
        department_code=department,
        roles=(role,),
        password=PASSWORD,
        region=region,
    )
    return staff_id


async def sign_in(client: httpx.AsyncClient, staff_id: str, password: str) -> httpx.Response:
    return await client.post("/v1/session", json={"staff_id": staff_id, "password": password})


async def test_signing_in_sets_a_cookie_that_serves_instead_of_a_header(client, pool) -> None:
    staff_id = await staff(pool)
    assert (await client.get("/v1/applications")).status_code == 401
    answer = await sign_in(client, staff_id, PASSWORD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["display_name"] == "李审查"
    assert answer.json()["roles"] == ["reviewer"]
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=28800" in cookie
    # The cookie signs the next requests in (the search: a tax reviewer's view).
    assert (await client.get("/v1/applications")).status_code == 200
    me = (await client.get("/v1/session")).json()
    assert (me["staff_id"], me["department_code"]) == (staff_id, "tax")
    # A reviewer is still not a supervisor.
    assert (await client.get("/v1/supervision/alerts")).status_code == 403
    # Signing out removes it.
    assert (await client.delete("/v1/session")).status_code == 204
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get("/v1/applications")).status_code == 401


async def test_a_session_is_scoped_to_the_staff_members_division(client, pool) -> None:
    # 行政区划: a county's supervisor (from the directory) gets the county's figures and
    # not a neighbour's; the session says which division it is.
    staff_id = await staff(pool, department="supervision", role="supervision", region="330106")
    answer = await sign_in(client, staff_id, PASSWORD)
    assert answer.status_code == 200 and answer.json()["region"] == "330106"
    assert (await client.get("/v1/session")).json()["region"] == "330106"
    period = {"from": "2026-01-01T00:00:00", "to": "2026-02-01T00:00:00"}
    own = await client.get("/v1/supervision/figures", params={**period, "region": "330106"})
    assert own.status_code == 200, own.text
    other = await client.get("/v1/supervision/figures", params={**period, "region": "330102"})
    assert other.status_code == 403
    # Signed in again as a provincial supervisor, the neighbour is in scope.
    provincial = await staff(pool, department="supervision", role="supervision")
    assert (await sign_in(client, provincial, PASSWORD)).json()["region"] == ""
    again = await client.get("/v1/supervision/figures", params={**period, "region": "330102"})
    assert again.status_code == 200


async def test_wrong_passwords_lock_the_account_and_unknown_ids_look_the_same(client, pool) -> None:
    staff_id = await staff(pool)
    unknown = await sign_in(client, f"nobody-{uuid.uuid4().hex[:6]}", PASSWORD)
    wrong = await sign_in(client, staff_id, "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]
    assert "set-cookie" not in wrong.headers
    for _ in range(MAX_FAILURES - 1):
        assert (await sign_in(client, staff_id, "still wrong")).status_code == 401
    # Locked: the right password is refused too, with the same answer.
    locked = await sign_in(client, staff_id, PASSWORD)
    assert locked.status_code == 401 and locked.json()["detail"] == wrong.json()["detail"]
    # A new password (an administrator's `staff-add`) opens it again.
    await StaffDirectory(pool).put(
        staff_id=staff_id,
        display_name="李审查",
        department_code="tax",
        roles=("reviewer",),
        password=PASSWORD,
    )
    assert (await sign_in(client, staff_id, PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"staff_id": "x"},
        {"staff_id": "", "password": "p"},
        {"staff_id": "x" * 65, "password": "p"},
    ],
)
async def test_a_malformed_sign_in_is_a_422(client, body) -> None:
    assert (await client.post("/v1/session", json=body)).status_code == 422


async def test_the_directory_refuses_weak_entries(pool) -> None:
    directory = StaffDirectory(pool)
    for bad in (
        {"staff_id": "bad id", "roles": ("reviewer",), "password": PASSWORD},
        {"staff_id": "ok", "roles": ("admin",), "password": PASSWORD},
        {"staff_id": "ok", "roles": ("reviewer",), "password": "short"},
        {"staff_id": "ok", "roles": ("reviewer",), "password": PASSWORD, "region": "33"},
    ):
        with pytest.raises(ValueError):
            await directory.put(display_name="x", department_code="tax", **bad)
