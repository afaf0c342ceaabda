"""Listing an integrator's applications: only its own, newest first, filtered, paged
with opaque cursors that neither skip nor repeat."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.integration

ORGANISATION_APPLICATION: dict[str, Any] = {
    "matter_code": "business-startup",
    "applicant": {
        "kind": "organisation",
        "name": "杭州示例科技有限公司",
        "identifier": "91330100716105852F",
    },
    "contact": {"mobile": "13912345678", "channels": ["sms"], "language": "zh"},
    "materials": [],
    "form": {},
}


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return response.json()["application_code"]


async def backdate(pool: asyncpg.Pool, code: str, at: datetime) -> None:
    await pool.execute(
        "UPDATE intake.applications SET submitted_at = $2 WHERE application_code = $1", code, at
    )


async def all_pages(client: httpx.AsyncClient, integrator: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url, headers=integrator.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["applications"])
        next_url = page["links"]["next"]
        assert (next_url is None) == (page["next_cursor"] is None)
        assert len(found) < 100, "paging does not end"
    return found


async def test_only_the_integrators_own_newest_first(
    client: httpx.AsyncClient, new_integrator: Any, person_application: dict[str, Any]
) -> None:
    mine, theirs = await new_integrator(), await new_integrator()
    codes = [await submit(client, mine, person_application) for _ in range(3)]
    await submit(client, theirs, person_application)

    response = await client.get("/v1/applications", headers=mine.headers)
    assert response.status_code == 200
    page = response.json()
    assert [item["application_code"] for item in page["applications"]] == codes[::-1]
    assert page["next_cursor"] is None
    first = page["applications"][0]
    assert set(first) == {
        "application_code",
        "status",
        "matter_code",
        "competent_region",
        "submitted_at",
        "links",
    }
    assert first["links"]["self"] == f"/v1/applications/{codes[-1]}"
    assert (await client.get("/v1/applications")).status_code == 401


async def test_pages_neither_skip_nor_repeat(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    codes = [await submit(client, integrator, person_application) for _ in range(7)]
    # Ties on submitted_at are ordered by code, so a page boundary inside a tie is safe.
    same = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    for code in codes[2:5]:
        await backdate(pool, code, same)
    found = await all_pages(client, integrator, "/v1/applications?limit=2")
    assert sorted(item["application_code"] for item in found) == sorted(codes)
    keys = [(item["submitted_at"], item["application_code"]) for item in found]
    assert keys == sorted(keys, reverse=True)


async def test_filters(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    old = await submit(client, integrator, person_application)
    person = await submit(client, integrator, person_application)
    organisation = await submit(client, integrator, copy.deepcopy(ORGANISATION_APPLICATION))
    await backdate(pool, old, datetime(2024, 1, 1, tzinfo=UTC))

    async def codes(query: dict[str, str]) -> list[str]:
        response = await client.get("/v1/applications", params=query, headers=integrator.headers)
        assert response.status_code == 200, response.text
        return [item["application_code"] for item in response.json()["applications"]]

    assert await codes({"matter_code": "business-startup"}) == [organisation]
    assert await codes({"matter_code": "household-transfer"}) == [person, old]
    assert await codes({"status": "submitted"}) == [organisation, person, old]
    assert await codes({"status": "completed"}) == []
    assert await codes({"submitted_to": "2025-01-01T00:00:00+08:00"}) == [old]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert await codes({"submitted_from": since, "matter_code": "household-transfer"}) == [person]
    # Filters carry over into the next page's link.
    found = await all_pages(
        client, integrator, "/v1/applications?matter_code=household-transfer&limit=1"
    )
    assert [item["application_code"] for item in found] == [person, old]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=many",
        "cursor=garbage!",
        "submitted_from=2025-03-03T08:00:00",  # no time zone
        "submitted_to=yesterday",
    ],
)
async def test_bad_queries_are_named(
    client: httpx.AsyncClient, integrator: Any, query: str
) -> None:
    response = await client.get(f"/v1/applications?{query}", headers=integrator.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == query.split("=")[0]
