"""Signed e-licences on the test database: the issue activity signs and stores the token
(a retry keeps the first), the token verifies offline with the published keys and its QR
code carries it; the department API revokes a licence (operations, or the issuing
department's head), once, and publishes `ELicenceRevoked` under one event id."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaError
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import approval_pb2
from onceonly.platform.elicence_signatures import Outcome, verify
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.platform.pii import PiiSealer
from onceonly.platform.testing import migrated_pool
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.api import create_app
from onceonly.workflow.elicence_qr import qr_matrix, qr_payload, qr_png, qr_svg
from onceonly.workflow.elicences import PostgresELicenceStore
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import ELicenceRequest

pytestmark = pytest.mark.integration

IDENTIFIER = "11010519491231002X"


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_pool(
        database_url, component="workflow", package="onceonly.workflow", max_size=4
    ) as created:
        yield created


@pytest.fixture
async def code(pool: asyncpg.Pool) -> AsyncIterator[str]:
    created = f"330100-20991231-{random.randrange(10**7):07d}"
    yield created
    await pool.execute("DELETE FROM workflow.elicences WHERE application_code = $1", created)


def activities(settings: WorkflowSettings, pool: asyncpg.Pool) -> ApprovalActivities:
    return ApprovalActivities(
        producer=MemoryProducer(MemoryBroker()),
        topic_prefix=settings.topic_prefix,
        catalogue=default_catalogue(),
        calendar=default_calendar(),
        sealer=PiiSealer(settings.pii_keys.get_secret_value()),
        elicences=PostgresELicenceStore(pool),
        elicence_keys=settings.elicence_keys(),
    )


async def issue(settings: WorkflowSettings, pool: asyncpg.Pool, code: str, days: int) -> Any:
    sealer = PiiSealer(settings.pii_keys.get_secret_value())
    request = ELicenceRequest(
        application_code=code,
        matter_code="household-transfer",
        licence_type="household-transfer-certificate",
        holder_sealed=sealer.seal(IDENTIFIER, context=f"{code}:identifier"),
        issued_at=datetime.now(UTC),
        valid_days=days,
    )
    return await ActivityEnvironment().run(activities(settings, pool).issue_elicence, request)


async def test_the_activity_signs_and_stores_the_licence(
    settings: WorkflowSettings, pool: asyncpg.Pool, code: str
) -> None:
    result = await issue(settings, pool, code, days=365)
    assert result.key_id == "dev-elicence"
    row = await pool.fetchrow("SELECT * FROM workflow.elicences WHERE number = $1", result.number)
    assert row is not None
    assert (row["token"], row["key_id"]) == (result.token, "dev-elicence")
    assert IDENTIFIER not in row["token"]

    answer = verify(result.token, settings.published_elicence_keys(), now=datetime.now(UTC))
    assert answer.outcome is Outcome.GENUINE
    assert answer.licence is not None
    assert answer.licence.number == f"EL-{code}"
    assert answer.licence.holder_masked == result.holder_masked == "1101**************"
    assert answer.licence.issuer_region == "330100"
    assert answer.licence.valid_until is not None
    assert answer.licence.valid_until.isoformat() == result.valid_until
    later = datetime.now(UTC) + timedelta(days=367)
    assert verify(result.token, settings.published_elicence_keys(), now=later).outcome == "expired"

    # A retried activity signs again, but the stored licence (and its token) stays.
    again = await issue(settings, pool, code, days=365)
    assert again.token == result.token

    payload = qr_payload(
        result.token, verification_url="https://gov.example/v1/elicences/verification"
    )
    assert payload.endswith(f"?t={result.token}")  # base64url and '.' need no escaping
    assert qr_png(payload).startswith(b"\x89PNG\r\n\x1a\n")
    assert qr_svg(payload).startswith("<svg") and qr_svg(payload).rstrip().endswith("</svg>")
    assert len(qr_matrix(payload)) >= 21


async def test_revocation_through_the_department_api(
    settings: WorkflowSettings, pool: asyncpg.Pool, code: str
) -> None:
    result = await issue(settings, pool, code, days=0)
    broker = MemoryBroker()
    producer = MemoryProducer(broker)
    # The revocation needs no Temporal: a stand-in client keeps the lifespan from connecting.
    app = create_app(settings, client=cast(Client, object()))
    app.state.department.producer = producer
    tokens = settings.staff_tokens()

    def staff(department: str, *roles: str) -> dict[str, str]:
        token = tokens.issue(staff_id=f"{department}-1", department_code=department, roles=roles)
        return {"Authorization": f"Bearer {token}"}

    url = f"/v1/elicences/{result.number}/revocation"
    body = {"reason": "以欺骗手段取得 / obtained by deception"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://workflow.test"
        ) as client:
            reviewer = await client.post(
                url, json=body, headers=staff("public-security", "reviewer")
            )
            other_head = await client.post(url, json=body, headers=staff("tax", "department_head"))
            unknown = await client.post(
                "/v1/elicences/EL-330100-20991231-0000000x/revocation",
                json=body,
                headers=staff("operations-centre", "operations"),
            )
            first = await client.post(
                url, json=body, headers=staff("operations-centre", "operations")
            )
            again = await client.post(
                url,
                json={"reason": "another reason"},
                headers=staff("public-security", "department_head"),
            )
            producer.fail_sends = [KafkaError("broker away")]
            kafka_away = await client.post(
                url, json=body, headers=staff("operations-centre", "operations")
            )
            no_reason = await client.post(
                url, json={"reason": ""}, headers=staff("operations-centre", "operations")
            )
    assert reviewer.status_code == 403
    assert other_head.status_code == 404  # not theirs reads as unknown
    assert unknown.status_code == 404
    assert no_reason.status_code == 422
    assert (kafka_away.status_code, kafka_away.headers["Retry-After"]) == (503, "5")
    assert first.status_code == 200, first.text
    assert first.json()["first"] is True
    assert first.json()["revoked_by"] == "operations-centre-1"
    assert again.status_code == 200, again.text
    assert (again.json()["first"], again.json()["reason"]) == (False, body["reason"])

    row = await pool.fetchrow("SELECT * FROM workflow.elicences WHERE number = $1", result.number)
    assert row is not None and row["revoked_at"] is not None
    assert row["revocation_reason"] == body["reason"]

    topic = topic_name(settings.topic_prefix, Stream.APPROVAL_EVENTS)
    records = broker.records(topic)
    assert len(records) == 2  # published again by the repeat, under the same id
    ids = {dict(r.headers)["ce_id"] for r in records}
    assert len(ids) == 1
    message = approval_pb2.ELicenceRevoked.FromString(records[0].value)
    assert (message.application_code, message.elicence_number) == (code, result.number)
    assert message.reason == body["reason"]
    assert records[0].key == code.encode()
