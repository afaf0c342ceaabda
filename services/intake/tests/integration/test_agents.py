"""Agents (帮代办) through the real intake API: an agent submits under the applicant's
authorisation (its personal data sealed everywhere: tables, outbox, Kafka), acts inside
the authorisation's scope and validity, and is refused (403, nothing recorded) outside
it. And what was looked up for the applicant (GET /v1/applications/{code}/lookups)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pypdf import PdfWriter

from onceonly.events.v1 import application_pb2, approval_pb2
from onceonly.intake.application_code import china_day
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.checksums import iso7064_mod11_2
from onceonly.intake.relay import OutboxRelay
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import ensure_topics, publish
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import TopicReader, eventually

pytestmark = pytest.mark.integration


def resident_id(rng: random.Random) -> str:
    body = f"330102197607{rng.randint(10, 28):02d}{rng.randint(100, 999)}"
    return body + iso7064_mod11_2(body)


@pytest.fixture
def agent_person() -> dict[str, str]:
    """An agent of this test only, so that another test's rows cannot hide a leak."""
    rng = random.Random()
    return {
        "name": "欧阳" + chr(0x4E00 + rng.randint(0, 20000)) + chr(0x4E00 + rng.randint(0, 20000)),
        "identifier": resident_id(rng),
        "mobile": f"137{rng.randint(0, 99_999_999):08d}",
    }


def today() -> date:
    return china_day(datetime.now(UTC))


def agent_body(person: dict[str, str], scope: list[str], **authorisation: Any) -> dict[str, Any]:
    return {
        **person,
        "relation": "service_centre",
        "organisation": "西湖区政务服务中心",
        "authorisation": {
            "scope": scope,
            "valid_from": (today() - timedelta(days=1)).isoformat(),
            "valid_until": (today() + timedelta(days=30)).isoformat(),
            "given_by": "recorded_consent",
            "consent_reference": "kiosk-consent/0042",
            **authorisation,
        },
    }


def pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": uuid.uuid4().hex})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def upload_letter(client: httpx.AsyncClient, integrator: Any) -> str:
    response = await client.post(
        "/v1/materials",
        content=pdf(),
        headers={**integrator.headers, "Content-Type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["reference"])


async def submit(
    client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]
) -> httpx.Response:
    return await client.post("/v1/applications", json=application, headers=integrator.headers)


async def rows_as_text(pool: asyncpg.Pool, code: str) -> str:
    """The application's rows in intake's tables (application, outbox, updates), as text."""
    texts = []
    for query in (
        "SELECT * FROM intake.applications WHERE application_code = $1",
        "SELECT * FROM intake.outbox WHERE message_key = $1",
        "SELECT * FROM intake.applicant_updates WHERE application_code = $1",
    ):
        for row in await pool.fetch(query, code):
            for value in row.values():
                if isinstance(value, bytes | bytearray | memoryview):
                    texts.append(bytes(value).decode("utf-8", "replace"))
                else:
                    texts.append(str(value))
    return "\n".join(texts)


async def test_an_agent_submits_with_a_signed_letter_sealed_everywhere(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
    relay: OutboxRelay,
    reader: TopicReader,
    agent_person: dict[str, str],
) -> None:
    letter = await upload_letter(client, integrator)
    person_application["agent"] = agent_body(
        agent_person,
        ["submit", "supplement", "receive_notifications"],
        given_by="signed_letter",
        letter_reference=letter,
        consent_reference="",
    )
    person_application["consents"] = [{"purpose": "population", "reference": "portal/c/1"}]
    response = await submit(client, integrator, person_application)
    assert response.status_code == 201, response.text
    code = response.json()["application_code"]

    view = (await client.get(f"/v1/applications/{code}", headers=integrator.headers)).json()
    agent = view["agent"]
    assert agent["name"] == agent_person["name"][0] + "**"
    assert agent["mobile"] == agent_person["mobile"][:7] + "****"
    assert agent["identifier"] == agent_person["identifier"][:4] + "*" * 14
    assert agent["authorisation"]["given_by"] == "signed_letter"
    assert agent["authorisation"]["letter_reference"] == letter
    assert [c["purpose"] for c in view["consents"]] == ["population"]

    rows = await rows_as_text(pool, code)
    assert code in rows and letter in rows  # the rows are there to search
    assert [k for k, v in agent_person.items() if v in rows] == []
    stored = json.loads(
        await pool.fetchval(
            "SELECT agent FROM intake.applications WHERE application_code = $1", code
        )
    )
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    assert (
        sealer.open(stored["mobile"]["sealed"], context=f"{code}:agent:mobile")
        == (agent_person["mobile"])
    )

    assert await relay.publish_pending() == 1
    async with reader:
        [record] = await reader.until(lambda records: len(records) >= 1, what="the submission")
    published = record.value + b"".join(value for _, value in record.headers)
    assert [k for k, v in agent_person.items() if v.encode() in published] == []
    event = Envelope.from_kafka(record.headers, record.value).message()
    assert isinstance(event, application_pb2.ApplicationSubmitted)
    assert event.agent.name.masked == agent["name"]
    assert list(event.agent.authorisation.scope) == [
        "submit",
        "supplement",
        "receive_notifications",
    ]
    assert [c.purpose for c in event.consents] == ["population"]


async def test_a_letter_must_be_your_own_upload_and_the_authorisation_cover_submitting(
    client: httpx.AsyncClient,
    integrator: Any,
    new_integrator: Callable[[], Awaitable[Any]],
    person_application: dict[str, Any],
    agent_person: dict[str, str],
) -> None:
    someone_elses = await upload_letter(client, await new_integrator())
    person_application["agent"] = agent_body(
        agent_person,
        ["supplement"],
        given_by="signed_letter",
        letter_reference=someone_elses,
        valid_until=(today() - timedelta(days=1)).isoformat(),
        valid_from=(today() - timedelta(days=10)).isoformat(),
    )
    response = await submit(client, integrator, person_application)
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {
        "agent.authorisation.letter_reference": "unknown_upload",
        "agent.authorisation.scope": "submit_not_authorised",
        "agent.authorisation.valid_until": "expired",
    }


async def submitted_by_agent(
    client: httpx.AsyncClient,
    integrator: Any,
    application: dict[str, Any],
    person: dict[str, str],
    scope: list[str],
) -> str:
    application["agent"] = agent_body(person, scope)
    response = await submit(client, integrator, application)
    assert response.status_code == 201, response.text
    return str(response.json()["application_code"])


async def updates_of(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT kind, details FROM intake.applicant_updates WHERE application_code = $1", code
    )


async def outbox_types(pool: asyncpg.Pool, code: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT ce_type FROM intake.outbox WHERE message_key = $1 ORDER BY created_at", code
    )
    return [row["ce_type"].rsplit(".", 1)[-1] for row in rows]


async def test_an_agent_supplements_inside_the_scope_and_says_so(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    agent_person: dict[str, str],
) -> None:
    code = await submitted_by_agent(
        client, integrator, person_application, agent_person, ["submit", "supplement"]
    )
    response = await client.post(
        f"/v1/applications/{code}/supplements",
        json={
            "materials": [{"code": "housing-proof", "reference": "doc://agent/9"}],
            "made_by": "agent",
        },
        headers=integrator.headers,
    )
    assert response.status_code == 202, response.text
    [update] = await updates_of(pool, code)
    assert json.loads(update["details"])["by_agent"] is True
    payload = await pool.fetchval(
        "SELECT payload FROM intake.outbox WHERE message_key = $1"
        " AND ce_type = 'onceonly.events.v1.SupplementProvided'",
        code,
    )
    assert application_pb2.SupplementProvided.FromString(payload).by_agent is True


async def test_a_withdrawal_outside_the_scope_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    agent_person: dict[str, str],
) -> None:
    code = await submitted_by_agent(
        client, integrator, person_application, agent_person, ["submit", "supplement"]
    )
    response = await client.post(
        f"/v1/applications/{code}/withdrawal",
        json={"reason": "不办了", "made_by": "agent"},
        headers=integrator.headers,
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/agent-not-authorised")
    assert problem["errors"][0]["field"] == "made_by"
    assert problem["errors"][0]["code"] == "outside_scope"
    assert "withdraw" in problem["detail"]
    assert await updates_of(pool, code) == []
    assert await outbox_types(pool, code) == ["ApplicationSubmitted"]
    # The applicant themselves may still withdraw.
    own = await client.post(
        f"/v1/applications/{code}/withdrawal",
        json={"reason": "不办了"},
        headers=integrator.headers,
    )
    assert own.status_code == 202, own.text


async def test_an_agent_after_the_validity_or_without_authorisation_is_refused(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    agent_person: dict[str, str],
) -> None:
    code = await submitted_by_agent(
        client, integrator, person_application, agent_person, ["submit", "supplement"]
    )
    # Time passes: the authorisation ended yesterday.
    await pool.execute(
        "UPDATE intake.applications SET agent = jsonb_set(agent,"
        " '{authorisation,valid_until}', to_jsonb($2::text)) WHERE application_code = $1",
        code,
        (today() - timedelta(days=1)).isoformat(),
    )
    supplement = {
        "materials": [{"code": "housing-proof", "reference": "doc://agent/9"}],
        "made_by": "agent",
    }
    late = await client.post(
        f"/v1/applications/{code}/supplements", json=supplement, headers=integrator.headers
    )
    assert late.status_code == 403, late.text
    assert late.json()["errors"][0]["code"] == "expired"
    assert await updates_of(pool, code) == []

    del person_application["agent"]
    own = await submit(client, integrator, person_application)
    unagented = own.json()["application_code"]
    nobody = await client.post(
        f"/v1/applications/{unagented}/supplements", json=supplement, headers=integrator.headers
    )
    assert nobody.status_code == 403, nobody.text
    assert nobody.json()["errors"][0]["code"] == "no_agent"


# --- lookups (授权与数据来源) ----------------------------------------------------------


@pytest.fixture
async def follower(settings: IntakeSettings, pool: asyncpg.Pool) -> AsyncIterator[ApprovalFollower]:
    created = ApprovalFollower.from_settings(pool, settings)
    await ensure_topics(settings.kafka_bootstrap, [created.topic, created.dead_letter_topic])
    task = asyncio.create_task(created.run())
    yield created
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def lookup(check: str, registry: str, passed: bool, at: datetime) -> approval_pb2.CheckOutcome:
    outcome = approval_pb2.CheckOutcome(
        check=check,
        passed=passed,
        reason="identity confirmed by the population registry" if passed else "no property",
        reason_zh="身份信息已核验" if passed else "无不动产登记",
        registry=registry,
        record_reference=f"{registry}/0123456789abcdef",
        code="confirmed" if passed else "no_property",
        consent_reference=f"portal/c/{check}",
    )
    outcome.checked_at.FromDatetime(at)
    return outcome


async def test_the_applicant_sees_what_was_looked_up_and_when(
    client: httpx.AsyncClient,
    integrator: Any,
    new_integrator: Callable[[], Awaitable[Any]],
    person_application: dict[str, Any],
    follower: ApprovalFollower,
    producer: AIOKafkaProducer,
) -> None:
    person_application["consents"] = [
        {"purpose": "population", "reference": "portal/c/population"},
        {"purpose": "real-estate", "reference": "portal/c/real-estate"},
    ]
    response = await submit(client, integrator, person_application)
    assert response.status_code == 201, response.text
    code = response.json()["application_code"]
    token = response.json()["progress_token"]
    empty = await client.get(f"/v1/applications/{code}/lookups", headers=integrator.headers)
    assert empty.status_code == 200
    assert empty.json() == {"application_code": code, "lookups": [], "not_consented": []}

    at = datetime(2026, 12, 5, 1, 0, 0, tzinfo=UTC)
    accepted = approval_pb2.ApplicationAccepted(
        application_code=code,
        matter_code="household-transfer",
        outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED,
        checks=[
            lookup("population", "population", True, at),
            lookup("real-estate", "real-estate", False, at + timedelta(seconds=1)),
        ],
        checks_without_consent=["legal-persons"],
        rule_version="shared-data-rules/2026.1",
    )
    envelope = new_envelope(accepted, source="/onceonly/workflow", application_code=code)
    await publish(producer, follower.topic, envelope)
    await publish(producer, follower.topic, envelope)  # redelivered: nothing twice

    async def read() -> dict[str, Any]:
        answer = await client.get(f"/v1/applications/{code}/lookups", headers=integrator.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    body = await eventually(read, lambda b: b["lookups"], what="the lookups")
    assert [(x["check"], x["registry"], x["confirmed"]) for x in body["lookups"]] == [
        ("population", "population", True),
        ("real-estate", "real-estate", False),
    ]
    assert body["lookups"][0]["checked_at"] == "2026-12-05T01:00:00Z"
    assert body["lookups"][0]["consent_reference"] == "portal/c/population"
    assert body["not_consented"] == ["legal-persons"]

    # Not yours: the same 404 as an unknown code.
    other = await new_integrator()
    theirs = await client.get(f"/v1/applications/{code}/lookups", headers=other.headers)
    unknown = await client.get(
        "/v1/applications/330100-20250303-0004276/lookups", headers=other.headers
    )
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(code, "") == unknown.json()["detail"].replace(
        "330100-20250303-0004276", ""
    )

    # The citizen's progress lookup shows them too, without record references.
    progress = await client.get("/v1/progress", params={"code": code, "token": token})
    assert progress.status_code == 200, progress.text
    shown = progress.json()["lookups"]
    assert [(x["check"], x["confirmed"]) for x in shown] == [
        ("population", True),
        ("real-estate", False),
    ]
    assert "record_reference" not in shown[0]
