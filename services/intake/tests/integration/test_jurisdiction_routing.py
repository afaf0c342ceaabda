"""全省通办 through the API: an application submitted at the Hangzhou centre for a place
in Ningbo is stored and published with both divisions, and decided under the local
variant there; a place outside the province is a 422 naming `region_code`."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import application_pb2

pytestmark = pytest.mark.integration


async def test_submitted_here_decided_in_the_division_it_concerns(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    # A household moving in Ningbo's Yinzhou district (a county-level matter).
    body = {**person_application, "region_code": "330212001"}
    answer = await client.post("/v1/applications", json=body, headers=integrator.headers)
    assert answer.status_code == 201, answer.text
    code = answer.json()["application_code"]
    assert answer.json()["competent_region"] == "330212"

    row = await pool.fetchrow(
        "SELECT submitted_region, competent_region FROM intake.applications"
        " WHERE application_code = $1",
        code,
    )
    assert dict(row) == {"submitted_region": "330100", "competent_region": "330212"}
    outbox = await pool.fetchrow(
        "SELECT * FROM intake.outbox WHERE message_key = $1 AND ce_type ="
        " 'onceonly.events.v1.ApplicationSubmitted'",
        code,
    )
    event = application_pb2.ApplicationSubmitted.FromString(bytes(outbox["payload"]))
    assert (event.submitted_region, event.competent_region) == ("330100", "330212")
    # The integrator's own list says where each of its applications is decided.
    listed = await client.get("/v1/applications", headers=integrator.headers)
    regions = {a["application_code"]: a["competent_region"] for a in listed.json()["applications"]}
    assert regions[code] == "330212"


async def test_without_a_place_the_centre_keeps_it(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    answer = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["competent_region"] == "330100"


@pytest.mark.parametrize(
    ("region", "code"),
    [("320106", "unknown_region"), ("330199", "unknown_region"), ("330100", "region_too_broad")],
)
async def test_a_place_outside_the_province_or_too_broad_is_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    region: str,
    code: str,
) -> None:
    body = {**person_application, "region_code": region}
    answer = await client.post("/v1/applications", json=body, headers=integrator.headers)
    assert answer.status_code == 422, answer.text
    problems = {(e["field"], e["code"]) for e in answer.json()["errors"]}
    assert problems == {("region_code", code)}


@pytest.mark.parametrize("region", ["33", "3302120011", "33021a", ""])
async def test_a_malformed_region_is_refused_before_routing(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    region: str,
) -> None:
    body = {**person_application, "region_code": region}
    answer = await client.post("/v1/applications", json=body, headers=integrator.headers)
    assert answer.status_code == 422, answer.text
    assert "region_code" in answer.text
