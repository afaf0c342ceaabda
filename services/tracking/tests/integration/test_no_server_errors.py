"""Supervision figures refuse periods Postgres and Python cannot count (instants at the
ends of the datetime range, a NUL) with a 422 problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from onceonly.platform.auth import StaffApi, issue_staff_token
from onceonly.platform.secrets import KeyRing
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

pytestmark = pytest.mark.integration

KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"
SUPERVISION = {
    "Authorization": "Bearer "
    + issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id="s-1",
        department_code="supervision",
        roles=("supervision",),
    )
}


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = TrackingSettings(
        environment="development", database_url=database_url, tracking_api_token_keys=KEYS
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
            yield client


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01T00:00:00+14:00", "2030-07-01T00:00:00Z", "from"),
        ("0001-01-01T00:00:00", "2030-07-01T00:00:00Z", "from"),
        ("2030-06-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "to"),
        ("2030-06-01T00:00:00Z", "9999-12-31T23:59:59", "to"),
        ("2030-06-01T00:00:00Z", "2100-01-01T00:00:01Z", "to"),
    ],
)
async def test_periods_outside_1970_to_2100_are_refused(
    client: httpx.AsyncClient, start: str, end: str, field: str
) -> None:
    response = await client.get(
        "/v1/supervision/figures", params={"from": start, "to": end}, headers=SUPERVISION
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_a_nul_in_a_query_value_is_refused(client: httpx.AsyncClient) -> None:
    query = {"from": "2030-06-01T00:00:00Z", "to": "2030-07-01T00:00:00Z", "group_by": "\x00"}
    response = await client.get("/v1/supervision/figures", params=query, headers=SUPERVISION)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["group_by"]


async def test_the_widest_period_is_counted(client: httpx.AsyncClient) -> None:
    query = {"from": "1970-01-01T00:00:00+14:00", "to": "2100-01-01T00:00:00-14:00"}
    response = await client.get("/v1/supervision/figures", params=query, headers=SUPERVISION)
    assert response.status_code == 200, response.text
