"""Notify's lists refuse query values Postgres cannot take (instants at the ends of the
datetime range, a NUL) with a 422 problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from onceonly.notify.api import create_app
from onceonly.notify.settings import NotifySettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(settings: NotifySettings, pool) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings, pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            yield client


@pytest.mark.parametrize(
    "before",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00",
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:01Z",
    ],
)
async def test_an_integrators_deliveries_before_an_unstorable_instant(
    client: httpx.AsyncClient, intake_integrator, before: str
) -> None:
    integrator = await intake_integrator()
    response = await client.get(
        "/v1/integrator/webhooks/deliveries", params={"before": before}, headers=integrator.auth
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["before"]


async def test_deliveries_before_the_last_instant_of_the_range(
    client: httpx.AsyncClient, intake_integrator
) -> None:
    integrator = await intake_integrator()
    response = await client.get(
        "/v1/integrator/webhooks/deliveries",
        params={"before": "2100-01-01T00:00:00-14:00"},
        headers=integrator.auth,
    )
    assert response.status_code == 200, response.text


async def test_a_nul_in_a_query_value_is_refused(
    client: httpx.AsyncClient, intake_integrator
) -> None:
    integrator = await intake_integrator()
    response = await client.get(
        "/v1/integrator/webhooks/deliveries",
        params={"status": "sent\x00"},
        headers=integrator.auth,
    )
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == ["status"]
