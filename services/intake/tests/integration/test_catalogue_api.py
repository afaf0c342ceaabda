"""The catalogue endpoints integrators build their forms from, and the OpenAPI schema."""

from __future__ import annotations

import httpx
import pytest

from onceonly.catalogue import default_catalogue

pytestmark = pytest.mark.integration


async def test_every_matter_is_listed(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/matters")
    assert response.status_code == 200
    matters = {matter["code"]: matter for matter in response.json()["matters"]}
    assert set(matters) == {matter.code for matter in default_catalogue().matters}
    transfer = matters["household-transfer"]
    assert transfer["applicant_kinds"] == "person"
    assert transfer["day_kind"] == "natural"
    assert transfer["departments"] == ["public-security"]
    assert transfer["links"] == {"self": "/v1/matters/household-transfer"}


async def test_one_matters_guide(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/matters/business-startup")
    assert response.status_code == 200
    guide = response.json()
    assert guide["committed_days"] == 3
    assert guide["bundle"] is True
    assert [task["department_code"] for task in guide["tasks"]] == [
        "market-regulation",
        "public-security",
        "tax",
        "human-resources",
    ]
    assert guide["tasks"][0]["department_zh"] == "市场监督管理局"
    premises = next(m for m in guide["materials"] if m["code"] == "premises-proof")
    assert premises["deficiency_tolerable"] is True
    assert premises["replaced_by_check"] == "real-estate"


async def test_an_unknown_matter_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/matters/fishing-licence")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_openapi_schema_documents_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    submit = schema["paths"]["/v1/applications"]["post"]
    examples = submit["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"person", "organisation"}
    assert {"201", "401", "413", "422"} <= set(submit["responses"])
    assert "application/problem+json" in submit["responses"]["422"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in submit["parameters"])
    assert schema["components"]["securitySchemes"]["IntegratorApiKey"]["scheme"] == "bearer"
    assert "/v1/applications/{application_code}" in schema["paths"]
    assert "/v1/matters/{matter_code}" in schema["paths"]
