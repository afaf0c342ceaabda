"""A submission travels: API → application + outbox rows in one transaction → relay →
Kafka, with CloudEvents headers, the request's trace, and personal data sealed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.events.v1 import application_pb2
from onceonly.intake.application_code import is_valid_application_code
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import SubmissionSession
from onceonly.platform.envelope import Envelope
from onceonly.platform.pii import PiiSealer

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def outbox_rows(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM intake.outbox WHERE message_key = $1", code)


async def test_a_submission_is_recorded_with_its_event(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    submissions_topic: str,
) -> None:
    response = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )

    assert response.status_code == 201, response.text
    body = response.json()
    code = body["application_code"]
    assert is_valid_application_code(code)
    assert code.startswith(f"{settings.region_code}-")
    assert body["status"] == "submitted"
    assert body["matter_code"] == "household-transfer"
    assert body["links"] == {"self": f"/v1/applications/{code}"}
    assert response.headers["location"] == f"/v1/applications/{code}"
    datetime.fromisoformat(body["submitted_at"])

    row = await pool.fetchrow("SELECT * FROM intake.applications WHERE application_code = $1", code)
    assert row is not None
    assert row["integrator_id"] == integrator.id
    assert row["status"] == "submitted"
    assert row["identifier_masked"] == "1101**************"
    assert row["mobile_masked"] == "1381234****"
    assert row["name_masked"] == "张**"
    stored = " ".join(str(value) for value in row.values())
    for secret in ("11010519491231002X", "13812345678", "张三丰"):
        assert secret not in stored
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    assert sealer.open(row["identifier_sealed"], context=f"{code}:identifier") == (
        "11010519491231002X"
    )

    [event_row] = await outbox_rows(pool, code)
    assert event_row["topic"] == submissions_topic
    assert event_row["ce_type"] == "onceonly.events.v1.ApplicationSubmitted"
    assert event_row["ce_source"] == "/onceonly/intake"
    assert event_row["published_at"] is None
    assert str(event_row["event_id"]) == str(row["event_id"])
    assert event_row["traceparent"].startswith("00-")


async def test_the_relay_publishes_it_to_kafka_with_the_trace(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    relay: Any,
    reader: Any,
) -> None:
    response = await client.post(
        "/v1/applications",
        json=person_application,
        headers={**integrator.headers, "traceparent": CALLER_TRACEPARENT},
    )
    assert response.status_code == 201, response.text
    code = response.json()["application_code"]
    [event_row] = await outbox_rows(pool, code)
    # The API's span continues the caller's trace; the outbox keeps its context.
    assert event_row["traceparent"].split("-")[1] == TRACE_ID

    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0
    [published] = await outbox_rows(pool, code)
    assert published["published_at"] is not None

    async with reader:
        [record] = await reader.until(lambda records: len(records) >= 1, what="the submission")
    assert record.key == code.encode()
    headers = {key: value.decode() for key, value in record.headers}
    assert headers["ce_id"] == str(event_row["event_id"])
    assert headers["ce_type"] == "onceonly.events.v1.ApplicationSubmitted"
    assert headers["ce_source"] == "/onceonly/intake"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_subject"] == code
    # The same trace; consumers continue from the relay's publish span.
    assert headers["traceparent"].split("-")[1] == event_row["traceparent"].split("-")[1]
    assert headers["traceparent"] != event_row["traceparent"]
    datetime.fromisoformat(headers["ce_time"])

    envelope = Envelope.from_kafka(record.headers, record.value)
    event = envelope.message()
    assert isinstance(event, application_pb2.ApplicationSubmitted)
    assert event.application_code == code
    assert event.matter_code == "household-transfer"
    assert event.integrator_id == integrator.id
    assert event.applicant.kind == application_pb2.APPLICANT_KIND_PERSON
    assert event.applicant.identifier.masked == "1101**************"
    assert event.contact.mobile.masked == "1381234****"
    assert [m.code for m in event.materials] == ["transfer-application", "household-register"]
    assert event.submitted_at.ToDatetime(tzinfo=UTC) == datetime.fromisoformat(
        response.json()["submitted_at"]
    )
    # Personal data travels only sealed: not one plain byte of it on the topic.
    for secret in ("11010519491231002X", "13812345678", "张三丰"):
        assert secret.encode() not in record.value
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    assert sealer.open(event.contact.mobile.sealed, context=f"{code}:mobile") == "13812345678"
    assert sealer.open(event.applicant.name.sealed, context=f"{code}:name") == "张三丰"


async def test_codes_are_unique_under_concurrent_submissions(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/v1/applications", json=person_application, headers=integrator.headers)
            for _ in range(25)
        )
    )
    assert [r.status_code for r in responses] == [201] * 25
    codes = {r.json()["application_code"] for r in responses}
    assert len(codes) == 25
    count = await pool.fetchval(
        "SELECT count(*) FROM intake.outbox WHERE message_key = ANY($1::text[])", list(codes)
    )
    assert count == 25


async def test_an_organisation_applies(
    client: httpx.AsyncClient, integrator: Any, pool: asyncpg.Pool
) -> None:
    response = await client.post(
        "/v1/applications",
        json={
            "matter_code": "business-startup",
            "applicant": {
                "kind": "organisation",
                "name": "杭州示例科技有限公司",
                "identifier": "91330100716105852f",
            },
            "contact": {"mobile": "13912345678", "channels": ["sms", "app"], "language": "en"},
            "materials": [{"code": "registration-form", "reference": "doc://kiosk/1"}],
        },
        headers=integrator.headers,
    )
    assert response.status_code == 201, response.text
    code = response.json()["application_code"]
    read = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert read.status_code == 200
    assert read.json()["applicant"] == {
        "kind": "organisation",
        "name": "杭州示例科技有限公司",
        "identifier": "9133**************",
    }
    assert read.json()["contact"] == {
        "mobile": "1391234****",
        "channels": ["sms", "app"],
        "language": "en",
    }


async def test_the_sequence_commits_without_waiting_and_the_application_still_does(
    pool: asyncpg.Pool,
) -> None:
    """next_sequence turns synchronous_commit off for its own statement only: the same
    connection's next commit (the application's) waits for the disk as before."""
    region, day = "330100", datetime(2031, 1, 2, tzinfo=UTC).date()
    async with pool.acquire() as conn:
        session = SubmissionSession(conn)
        first = await session.next_sequence(region, day)
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        second = await session.next_sequence(region, day)
        assert second == first + 1
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
    # Committed, not left in an open transaction: another connection sees the increment.
    assert (
        await pool.fetchval(
            "SELECT last_seq FROM intake.code_sequences WHERE region_code = $1 AND day = $2",
            region,
            day,
        )
        == second
    )
