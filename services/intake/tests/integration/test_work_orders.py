"""12345 work orders through the real intake API: filed by the hotline's integrator only,
attached to an existing application (routed to its department) or to a named department,
the caller's contact sealed and masked, idempotent, and published as WorkOrderFiled."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import workorder_pb2
from onceonly.intake.store import IntegratorStore
from onceonly.intake.work_orders import HOTLINE
from onceonly.platform.envelope import Envelope
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from services.intake.tests.integration.conftest import IntegratorCredentials

pytestmark = pytest.mark.integration

ORDER: dict[str, Any] = {
    "kind": "complaint",
    "content": "办件超过承诺时限仍未办结, 请尽快处理",
    "caller": {"name": "李四", "mobile": "13912345678"},
    "hotline_reference": "12345-0001",
}


@pytest.fixture
async def hotline(
    new_integrator: Callable[[], Awaitable[IntegratorCredentials]], pool: asyncpg.Pool
) -> IntegratorCredentials:
    created = await new_integrator()
    await IntegratorStore(pool).grant(created.id, HOTLINE)  # what `integrator grant` does
    return created


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["application_code"])


async def count_orders(pool: asyncpg.Pool, integrator_id: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM intake.work_orders WHERE integrator_id = $1", integrator_id
        )
    )


async def test_an_attached_order_goes_to_the_applications_department(
    client: httpx.AsyncClient,
    integrator: IntegratorCredentials,
    hotline: IntegratorCredentials,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {**ORDER, "application_code": code}
    response = await client.post("/v1/work-orders", json=body, headers={**hotline.headers, **key})
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["department_code"] == "public-security"  # the matter's department
    assert receipt["application_code"] == code
    assert receipt["caller"]["mobile"] == "1391234****"
    order_code = receipt["order_code"]
    assert order_code.startswith("WO")

    row = await pool.fetchrow("SELECT * FROM intake.work_orders WHERE order_code = $1", order_code)
    assert row is not None and row["caller_mobile_masked"] == "1391234****"
    assert "13912345678" not in row["caller_mobile_sealed"]
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    assert sealer.open(row["caller_mobile_sealed"], context=f"{order_code}:mobile") == (
        "13912345678"
    )
    outbox = await pool.fetchrow("SELECT * FROM intake.outbox WHERE event_id = $1", row["event_id"])
    assert outbox["message_key"] == code  # on the application's timeline
    assert outbox["topic"].endswith(".work-orders.v1")
    envelope = Envelope(
        id=str(outbox["event_id"]),
        type=outbox["ce_type"],
        source=outbox["ce_source"],
        subject=outbox["message_key"],
        data=bytes(outbox["payload"]),
    )
    filed = envelope.message()
    assert isinstance(filed, workorder_pb2.WorkOrderFiled)
    assert filed.order_code == order_code and filed.attached_application_code == code
    assert filed.kind == workorder_pb2.WORK_ORDER_KIND_COMPLAINT
    assert filed.caller_name.masked != "李四" and "李四" not in filed.caller_name.sealed

    # Retried with the same key: the first answer, nothing new.
    again = await client.post("/v1/work-orders", json=body, headers={**hotline.headers, **key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == receipt
    assert await count_orders(pool, hotline.id) == 1
    changed = await client.post(
        "/v1/work-orders", json={**body, "kind": "request"}, headers={**hotline.headers, **key}
    )
    assert changed.status_code == 422 and await count_orders(pool, hotline.id) == 1


async def test_an_unattached_order_is_keyed_by_its_own_code(
    client: httpx.AsyncClient, hotline: IntegratorCredentials, pool: asyncpg.Pool
) -> None:
    response = await client.post(
        "/v1/work-orders",
        json={**ORDER, "kind": "consultation", "department_code": "tax"},
        headers=hotline.headers,
    )
    assert response.status_code == 201, response.text
    order_code = response.json()["order_code"]
    key = await pool.fetchval(
        "SELECT o.message_key FROM intake.outbox o JOIN intake.work_orders w"
        " ON w.event_id = o.event_id WHERE w.order_code = $1",
        order_code,
    )
    assert key == order_code


async def test_only_the_hotline_files_orders(
    client: httpx.AsyncClient, integrator: IntegratorCredentials, pool: asyncpg.Pool
) -> None:
    response = await client.post(
        "/v1/work-orders", json={**ORDER, "department_code": "tax"}, headers=integrator.headers
    )
    assert response.status_code == 403
    assert await count_orders(pool, integrator.id) == 0
    anonymous = await client.post("/v1/work-orders", json={**ORDER, "department_code": "tax"})
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"application_code": "330100-20990101-0000001"}, "application_code"),
        ({"department_code": "no-such-department"}, "department_code"),
        ({"caller": {"name": "李四", "mobile": "12345"}}, "caller.mobile"),
        ({}, "department_code"),  # neither a department nor an application
        ({"kind": "praise", "department_code": "tax"}, "kind"),
        ({"content": "", "department_code": "tax"}, "content"),
    ],
)
async def test_bad_input_names_the_field(
    client: httpx.AsyncClient,
    hotline: IntegratorCredentials,
    pool: asyncpg.Pool,
    change: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        "/v1/work-orders", json={**ORDER, **change}, headers=hotline.headers
    )
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(name == field or name.endswith("." + field) for name in fields), fields
    assert await count_orders(pool, hotline.id) == 0
