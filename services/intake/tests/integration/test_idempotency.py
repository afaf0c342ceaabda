"""Idempotency-Key: a retry gets the first answer; a reused key with another body is
refused; twins racing each other record one application."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import ApplicationStore

pytestmark = pytest.mark.integration


async def applications_of(pool: asyncpg.Pool, integrator_id: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM intake.applications WHERE integrator_id = $1", integrator_id
    )


async def test_a_retry_returns_the_first_answer(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/applications", json=person_application, headers=headers)
    # The same JSON with its keys in another order is the same request.
    reordered = dict(reversed(list(person_application.items())))
    retry = await client.post("/v1/applications", json=reordered, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["location"] == first.headers["location"]
    assert await applications_of(pool, integrator.id) == 1
    code = first.json()["application_code"]
    assert (
        await pool.fetchval("SELECT count(*) FROM intake.outbox WHERE message_key = $1", code) == 1
    )


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": "order-42"}
    first = await client.post("/v1/applications", json=person_application, headers=headers)
    person_application["contact"]["mobile"] = "13912345678"
    second = await client.post("/v1/applications", json=person_application, headers=headers)

    assert first.status_code == 201
    assert second.status_code == 422
    assert second.headers["content-type"] == "application/problem+json"
    problem = second.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert "different request" in problem["detail"]
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert await applications_of(pool, integrator.id) == 1


async def test_keys_belong_to_one_integrator(
    client: httpx.AsyncClient,
    new_integrator: Any,
    person_application: dict[str, Any],
) -> None:
    a, b = await new_integrator(), await new_integrator()
    first = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**a.headers, "Idempotency-Key": "shared-key"},
    )
    other = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**b.headers, "Idempotency-Key": "shared-key"},
    )
    assert first.status_code == other.status_code == 201
    assert first.json()["application_code"] != other.json()["application_code"]


async def test_concurrent_twins_record_one_application(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(
            client.post("/v1/applications", json=person_application, headers=headers)
            for _ in range(8)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert await applications_of(pool, integrator.id) == 1


async def test_a_failed_request_does_not_use_up_the_key(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    bad = {**person_application, "matter_code": "no-such-matter"}
    assert (await client.post("/v1/applications", json=bad, headers=headers)).status_code == 422
    fixed = await client.post("/v1/applications", json=person_application, headers=headers)
    assert fixed.status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "两个字".encode()])
async def test_a_malformed_key_is_refused(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any], key: str | bytes
) -> None:
    response = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**integrator.headers, "Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert any(error["field"] == "Idempotency-Key" for error in response.json()["errors"])


async def age_key(pool: asyncpg.Pool, integrator_id: str, key: str, hours: float) -> None:
    await pool.execute(
        "UPDATE intake.idempotency_keys SET created_at = now() - make_interval(secs => $3)"
        " WHERE integrator_id = $1 AND key = $2",
        integrator_id,
        key,
        hours * 3600,
    )


async def test_a_key_is_kept_a_day_then_expires_and_is_purged(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    key = str(uuid.uuid4())
    headers = {**integrator.headers, "Idempotency-Key": key}
    first = await client.post("/v1/applications", json=person_application, headers=headers)
    assert first.status_code == 201

    await age_key(pool, integrator.id, key, 23.9)
    within_a_day = await client.post("/v1/applications", json=person_application, headers=headers)
    assert within_a_day.headers.get("idempotent-replayed") == "true"
    assert within_a_day.content == first.content

    # Past the retention a key names nothing: the purge (run by the relay) removes it,
    # and keys younger than the retention stay.
    await age_key(pool, integrator.id, key, 24.1)
    young = str(uuid.uuid4())
    young_answer = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**integrator.headers, "Idempotency-Key": young},
    )
    assert young_answer.status_code == 201
    assert await ApplicationStore(pool).purge_idempotency_keys(older_than_hours=24) >= 1
    kept = await pool.fetch(
        "SELECT key FROM intake.idempotency_keys WHERE integrator_id = $1", integrator.id
    )
    assert [row["key"] for row in kept] == [young]


def test_keys_cannot_be_configured_to_live_less_than_a_day() -> None:
    with pytest.raises(ValidationError):
        IntakeSettings(environment="development", idempotency_ttl_hours=12)
