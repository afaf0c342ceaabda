"""Supplements, withdrawal requests and ratings: recorded with their event in one
transaction, only on the integrator's own applications, idempotent, published to the
applicant-updates topic keyed by the application code."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import application_pb2
from onceonly.intake.relay import OutboxRelay
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import Envelope
from onceonly.platform.testing import TopicReader
from onceonly.platform.topics import Stream, topic_name

pytestmark = pytest.mark.integration

SUPPLEMENT = {"materials": [{"code": "household-register", "reference": "doc://portal/9"}]}


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return response.json()["application_code"]


async def updates_of(pool: asyncpg.Pool, code: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT kind FROM intake.applicant_updates WHERE application_code = $1 ORDER BY created_at",
        code,
    )
    return [row["kind"] for row in rows]


async def outbox_types(pool: asyncpg.Pool, code: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT ce_type FROM intake.outbox WHERE message_key = $1 ORDER BY id", code
    )
    return [row["ce_type"] for row in rows]


async def test_each_update_is_recorded_with_its_event(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
) -> None:
    code = await submit(client, integrator, person_application)
    base = f"/v1/applications/{code}"
    supplement = await client.post(
        f"{base}/supplements", json=SUPPLEMENT, headers=integrator.headers
    )
    rating = await client.post(
        f"{base}/rating", json={"level": 4, "comment": "快"}, headers=integrator.headers
    )
    withdrawal = await client.post(
        f"{base}/withdrawal", json={"reason": "不再需要"}, headers=integrator.headers
    )

    for response, kind in (
        (supplement, "supplement"),
        (rating, "rating"),
        (withdrawal, "withdrawal"),
    ):
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["application_code"] == code
        assert body["update"] == kind
        assert body["links"] == {"application": base}
        uuid.UUID(body["update_id"])
    assert await updates_of(pool, code) == ["supplement", "rating", "withdrawal"]
    assert await outbox_types(pool, code) == [
        "onceonly.events.v1.ApplicationSubmitted",
        "onceonly.events.v1.SupplementProvided",
        "onceonly.events.v1.RatingGiven",
        "onceonly.events.v1.WithdrawalRequested",
    ]
    topics = await pool.fetch(
        "SELECT DISTINCT topic FROM intake.outbox WHERE message_key = $1 AND ce_type <> $2",
        code,
        "onceonly.events.v1.ApplicationSubmitted",
    )
    assert [row["topic"] for row in topics] == [
        topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES)
    ]


async def test_the_relay_publishes_the_events_keyed_by_code(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    settings: IntakeSettings,
    relay: OutboxRelay,
    kafka_bootstrap: str,
) -> None:
    code = await submit(client, integrator, person_application)
    base = f"/v1/applications/{code}"
    await client.post(f"{base}/supplements", json=SUPPLEMENT, headers=integrator.headers)
    await client.post(f"{base}/withdrawal", json={"reason": "搬家"}, headers=integrator.headers)
    await client.post(f"{base}/rating", json={"level": 2}, headers=integrator.headers)
    # Three updates and the submission itself (on the submissions topic).
    assert await relay.publish_pending() == 4

    topic = topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES)
    async with TopicReader(kafka_bootstrap, topic) as reader:
        records = await reader.until(lambda found: len(found) >= 3, what="three updates")
    assert {record.key for record in records} == {code.encode()}
    messages = [Envelope.from_kafka(r.headers, r.value).message() for r in records]
    supplement, withdrawal, rating = messages
    assert isinstance(supplement, application_pb2.SupplementProvided)
    assert [(m.code, m.reference) for m in supplement.materials] == [
        ("household-register", "doc://portal/9")
    ]
    assert isinstance(withdrawal, application_pb2.WithdrawalRequested)
    assert withdrawal.reason == "搬家"
    assert isinstance(rating, application_pb2.RatingGiven)
    assert (rating.application_code, rating.level, rating.comment) == (code, 2, "")
    # The step rated: the matter's only department (a bad rating's rectification is its).
    assert (rating.department_code, rating.matter_code) == (
        "public-security",
        person_application["matter_code"],
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("supplements", SUPPLEMENT),
        ("withdrawal", {"reason": "x"}),
        ("rating", {"level": 5}),
    ],
)
async def test_another_integrators_application_is_not_found(
    client: httpx.AsyncClient,
    new_integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    path: str,
    body: dict[str, Any],
) -> None:
    owner, other = await new_integrator(), await new_integrator()
    code = await submit(client, owner, person_application)
    foreign = await client.post(f"/v1/applications/{code}/{path}", json=body, headers=other.headers)
    unknown = await client.post(
        f"/v1/applications/330100-20000101-0000010/{path}", json=body, headers=other.headers
    )
    malformed = await client.post(
        f"/v1/applications/not-a-code/{path}", json=body, headers=other.headers
    )
    for response in (foreign, unknown, malformed):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    # The same answer whether the code exists or not: no oracle for other integrators.
    assert foreign.json()["type"] == unknown.json()["type"]
    assert await updates_of(pool, code) == []
    unauthenticated = await client.post(f"/v1/applications/{code}/{path}", json=body)
    assert unauthenticated.status_code == 401


async def test_supplements_are_checked_against_the_matter(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    response = await client.post(
        f"/v1/applications/{code}/supplements",
        json={
            "materials": [
                {"code": "household-register", "reference": "doc://1"},
                {"code": "articles-of-association", "reference": "doc://2"},
                {"code": "household-register", "reference": "  "},
            ]
        },
        headers=integrator.headers,
    )
    assert response.status_code == 422
    fields = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert fields == {("materials.1.code", "unknown_material"), ("materials.2.reference", "empty")}
    assert all(e["message_zh"] for e in response.json()["errors"])
    empty = await client.post(
        f"/v1/applications/{code}/supplements", json={"materials": []}, headers=integrator.headers
    )
    assert empty.status_code == 422
    assert await updates_of(pool, code) == []


@pytest.mark.parametrize(
    "body",
    [
        {"level": 0},
        {"level": 6},
        {"level": "five"},
        {"level": 3, "comment": "好" * 501},
        {"comment": "no level"},
        {"level": 3, "extra": True},
    ],
)
async def test_invalid_ratings_are_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    body: dict[str, Any],
) -> None:
    code = await submit(client, integrator, person_application)
    response = await client.post(
        f"/v1/applications/{code}/rating", json=body, headers=integrator.headers
    )
    assert response.status_code == 422, response.text
    assert await updates_of(pool, code) == []


@pytest.mark.parametrize("department", ["tax", "FIRE!", ""])
async def test_a_rating_of_a_step_not_in_the_matter_names_the_field(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    department: str,
) -> None:
    code = await submit(client, integrator, person_application)
    response = await client.post(
        f"/v1/applications/{code}/rating",
        json={"level": 1, "department_code": department},
        headers=integrator.headers,
    )
    assert response.status_code == 422, response.text
    assert "department_code" in response.text
    assert await updates_of(pool, code) == []
    named = await client.post(
        f"/v1/applications/{code}/rating",
        json={"level": 1, "department_code": "public-security"},
        headers=integrator.headers,
    )
    assert named.status_code == 202, named.text


async def test_a_comment_of_500_characters_is_accepted(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    code = await submit(client, integrator, person_application)
    response = await client.post(
        f"/v1/applications/{code}/rating",
        json={"level": 1, "comment": "差" * 500},
        headers=integrator.headers,
    )
    assert response.status_code == 202, response.text


async def test_a_second_rating_is_a_conflict(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    url = f"/v1/applications/{code}/rating"
    first = await client.post(url, json={"level": 5}, headers=integrator.headers)
    second = await client.post(url, json={"level": 1}, headers=integrator.headers)
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["type"].endswith("/already-rated")
    assert await updates_of(pool, code) == ["rating"]
    assert len(await outbox_types(pool, code)) == 2


async def test_concurrent_ratings_record_one(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/applications/{code}/rating", json={"level": n}, headers=integrator.headers
            )
            for n in range(1, 6)
        )
    )
    assert sorted(r.status_code for r in responses) == [202, 409, 409, 409, 409]
    assert await updates_of(pool, code) == ["rating"]


async def test_after_a_withdrawal_request_no_supplement_and_no_second_request(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    base = f"/v1/applications/{code}"
    first = await client.post(
        f"{base}/withdrawal", json={"reason": "a"}, headers=integrator.headers
    )
    again = await client.post(
        f"{base}/withdrawal", json={"reason": "b"}, headers=integrator.headers
    )
    late = await client.post(f"{base}/supplements", json=SUPPLEMENT, headers=integrator.headers)
    assert first.status_code == 202
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-withdrawn")
    assert late.status_code == 409
    assert late.json()["type"].endswith("/withdrawn")
    assert await updates_of(pool, code) == ["withdrawal"]


@pytest.mark.parametrize("reason", ["", "   ", "理" * 501])
async def test_a_withdrawal_needs_a_reason(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any], reason: str
) -> None:
    code = await submit(client, integrator, person_application)
    response = await client.post(
        f"/v1/applications/{code}/withdrawal", json={"reason": reason}, headers=integrator.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "reason"


async def test_a_retry_returns_the_first_answer(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    url = f"/v1/applications/{code}/rating"
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(url, json={"level": 4, "comment": "好"}, headers=headers)
    retry = await client.post(url, json={"comment": "好", "level": 4}, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    changed = await client.post(url, json={"level": 1}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/idempotency-key-reused")
    # The same key on another application's URL is another request.
    other = await submit(client, integrator, person_application)
    moved = await client.post(
        f"/v1/applications/{other}/rating", json={"level": 4, "comment": "好"}, headers=headers
    )
    assert moved.status_code == 422
    assert await updates_of(pool, code) == ["rating"]
    assert await updates_of(pool, other) == []


async def test_concurrent_twins_record_one_supplement(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/applications/{code}/supplements", json=SUPPLEMENT, headers=headers)
            for _ in range(6)
        )
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.content for r in responses}) == 1
    assert await updates_of(pool, code) == ["supplement"]


async def test_a_refused_update_does_not_use_up_the_key(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    code = await submit(client, integrator, person_application)
    url = f"/v1/applications/{code}/rating"
    await client.post(url, json={"level": 5}, headers=integrator.headers)
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    conflict = await client.post(url, json={"level": 3}, headers=headers)
    assert conflict.status_code == 409
    # Nothing was stored under the key: the same request is refused again, not replayed.
    again = await client.post(url, json={"level": 3}, headers=headers)
    assert again.status_code == 409
    assert "idempotent-replayed" not in again.headers
