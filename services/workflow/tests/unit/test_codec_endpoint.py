"""The codec server endpoint of the department API (Temporal's codec server protocol),
for operations and supervision staff only; no Temporal or database needed."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.api.common.v1 import Payload

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.workflow.api import create_app
from onceonly.workflow.payload_codec import ENCODING, KEY_ID
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.temporal import payload_codec

SETTINGS = WorkflowSettings(environment="development")
CODEC = "/v1/temporal-codec"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wire(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: b64(v) for k, v in payload.metadata.items()},
        "data": b64(payload.data),
    }


def bearer(
    *roles: str, api: StaffApi = StaffApi.DEPARTMENT, department: str = "operations-centre"
) -> dict[str, str]:
    tokens = StaffTokens.from_settings(SETTINGS, api)
    token = tokens.issue(staff_id="staff-1", department_code=department, roles=roles)
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the codec needs neither the database nor Temporal.
    app = create_app(SETTINGS)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://workflow") as client:
        yield client


@pytest.mark.parametrize("role", ["operations", "supervision"])
async def test_an_operator_decodes_what_temporal_stores(http: httpx.AsyncClient, role: str) -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data='{"name":"张三丰"}'.encode())
    [stored] = await payload_codec(SETTINGS).encode([plain])
    answer = await http.post(
        f"{CODEC}/decode", json={"payloads": [wire(stored)]}, headers=bearer(role)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"payloads": [wire(plain)]}


async def test_encode_answers_what_decode_reads_back(http: httpx.AsyncClient) -> None:
    plain = wire(Payload(metadata={"encoding": b"json/plain"}, data=b'"approved"'))
    encoded = await http.post(
        f"{CODEC}/encode", json={"payloads": [plain]}, headers=bearer("operations")
    )
    assert encoded.status_code == 200, encoded.text
    [payload] = encoded.json()["payloads"]
    assert payload["metadata"]["encoding"] == b64(ENCODING)
    assert payload["metadata"][KEY_ID] == b64(b"dev1")
    decoded = await http.post(f"{CODEC}/decode", json=encoded.json(), headers=bearer("operations"))
    assert decoded.json() == {"payloads": [plain]}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        (bearer("operations", api=StaffApi.TRACKING), 401),  # another API's token
        (bearer("reviewer", department="public-security"), 403),
        (bearer("department_head", department="public-security"), 403),
    ],
    ids=["none", "garbage", "tracking-api-token", "reviewer", "department-head"],
)
@pytest.mark.parametrize("operation", ["decode", "encode"])
async def test_others_are_refused(
    http: httpx.AsyncClient, headers: dict[str, str], status: int, operation: str
) -> None:
    [stored] = await payload_codec(SETTINGS).encode([Payload(data=b'"x"')])
    answer = await http.post(
        f"{CODEC}/{operation}", json={"payloads": [wire(stored)]}, headers=headers
    )
    assert answer.status_code == status
    assert "x" not in answer.json().get("payloads", [])


async def test_a_payload_under_an_unknown_key_is_a_clear_problem(
    http: httpx.AsyncClient,
) -> None:
    foreign = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k1999"}, data=b"\0" * 40)
    answer = await http.post(
        f"{CODEC}/decode", json={"payloads": [wire(foreign)]}, headers=bearer("operations")
    )
    assert answer.status_code == 422
    assert "k1999" in answer.json()["detail"]


async def test_data_that_is_not_base64_is_refused(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        f"{CODEC}/decode",
        json={"payloads": [{"metadata": {}, "data": "%%%"}]},
        headers=bearer("operations"),
    )
    assert answer.status_code == 422
