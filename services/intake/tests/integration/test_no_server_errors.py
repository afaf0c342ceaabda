"""Query values Postgres cannot take (a NUL, instants at the ends of the datetime
range, in filters and in cursors) are refused with a 422 problem, never a 500."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from onceonly.intake.paging import Position, encode_cursor

pytestmark = pytest.mark.integration

EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize(
    "query",
    [
        {"matter_code": "household\x00transfer"},
        *({"submitted_from": instant} for instant in EXTREMES),
        *({"submitted_to": instant} for instant in EXTREMES),
    ],
)
async def test_unstorable_filters_are_refused(
    client: httpx.AsyncClient, integrator, query: dict[str, str]
) -> None:
    response = await client.get("/v1/applications", params=query, headers=integrator.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert (error["in"], error["field"]) == ("query", next(iter(query)))


@pytest.mark.parametrize(
    "position",
    [
        Position(datetime.fromisoformat(EXTREMES[0]), "330100-20250303-0004276"),
        Position(datetime.fromisoformat(EXTREMES[1]), "330100-20250303-0004276"),
        Position(datetime.fromisoformat("2025-03-03T08:00:00+08:00"), "330100\x00"),
    ],
)
async def test_unstorable_cursors_are_refused(
    client: httpx.AsyncClient, integrator, position: Position
) -> None:
    response = await client.get(
        "/v1/applications", params={"cursor": encode_cursor(position)}, headers=integrator.headers
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("cursor", "malformed_cursor")


async def test_a_nul_in_the_progress_lookup_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/progress", params={"code": "330100-20250303-000427\x00", "last4": "5678"}
    )
    assert response.status_code == 422, response.text
