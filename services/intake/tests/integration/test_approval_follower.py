"""The approval follower: approval events on Kafka become the status, clocks and missing
materials an integrator reads, once per event, and the list and citizen lookup agree."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import approval_pb2
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import ensure_topics, publish
from onceonly.platform.testing import TopicReader, eventually
from onceonly.platform.topics import Stream, dead_letter_topic, topic_name

pytestmark = pytest.mark.integration

ACCEPTED_AT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def clock(days: int, *, paused: bool = False) -> approval_pb2.Clock:
    started, due = Timestamp(), Timestamp()
    started.FromDatetime(ACCEPTED_AT)
    due.FromDatetime(ACCEPTED_AT + timedelta(days=days))
    return approval_pb2.Clock(
        committed_days=days, day_kind="natural", started_at=started, due_at=due, paused=paused
    )


@pytest.fixture
async def follower(settings: IntakeSettings, pool: asyncpg.Pool) -> AsyncIterator[ApprovalFollower]:
    created = ApprovalFollower.from_settings(pool, settings)
    await ensure_topics(settings.kafka_bootstrap, [created.topic, created.dead_letter_topic])
    task = asyncio.create_task(created.run())
    yield created
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return response.json()["application_code"]


async def send(
    producer: AIOKafkaProducer, follower: ApprovalFollower, code: str, message: Message
) -> Envelope:
    envelope = new_envelope(message, source="/onceonly/workflow", application_code=code)
    await publish(producer, follower.topic, envelope)
    return envelope


async def read(client: httpx.AsyncClient, integrator: Any, code: str) -> dict[str, Any]:
    response = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def until_status(
    client: httpx.AsyncClient, integrator: Any, code: str, status: str
) -> dict[str, Any]:
    return await eventually(
        lambda: read(client, integrator, code),
        lambda body: body["status"] == status,
        what=f"status {status}",
    )


async def test_the_read_endpoint_follows_the_approval(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    follower: ApprovalFollower,
    producer: AIOKafkaProducer,
) -> None:
    person_application["materials"] = [
        {"code": "transfer-application", "reference": "doc://1"},
        {"code": "resident-id", "reference": "doc://2"},
    ]
    code = await submit(client, integrator, person_application)
    before = await read(client, integrator, code)
    assert before["status"] == "submitted"
    assert before["departments"] == [] and before["missing_materials"] == []
    assert before["clock"] is None and before["status_updated_at"] is None

    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
            missing_materials=["housing-proof", "household-register"],
        ),
    )
    asked = await until_status(client, integrator, code, "supplement_requested")
    assert [m["code"] for m in asked["missing_materials"]] == [
        "housing-proof",
        "household-register",
    ]
    assert all(m["name_zh"] and m["name_en"] for m in asked["missing_materials"])

    # A supplement answers the request at once in the view, before the workflow speaks.
    supplement = await client.post(
        f"/v1/applications/{code}/supplements",
        json={"materials": [{"code": "housing-proof", "reference": "doc://3"}]},
        headers=integrator.headers,
    )
    assert supplement.status_code == 202, supplement.text
    partly = await read(client, integrator, code)
    assert [m["code"] for m in partly["missing_materials"]] == ["household-register"]

    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED_WITH_DEFICIENCY,
            missing_materials=["household-register"],
            clock=clock(10),
        ),
    )
    await send(
        producer,
        follower,
        code,
        approval_pb2.TaskStarted(
            application_code=code,
            department_code="public-security",
            task_name="户籍迁移审批",
            clock=clock(10),
        ),
    )
    started = await eventually(
        lambda: read(client, integrator, code),
        lambda body: body["departments"],
        what="the department's task",
    )
    assert started["status"] == "accepted_with_deficiency"
    assert [m["code"] for m in started["missing_materials"]] == ["household-register"]
    assert started["clock"]["committed_days"] == 10
    assert started["clock"]["due_at"].startswith("2025-03-13T01:00:00")
    [department] = started["departments"]
    assert department["department_code"] == "public-security"
    assert department["state"] == "started"
    assert department["name_zh"] and department["clock"]["day_kind"] == "natural"

    await send(
        producer,
        follower,
        code,
        approval_pb2.TaskDecided(
            application_code=code,
            department_code="public-security",
            outcome=approval_pb2.DECISION_OUTCOME_APPROVED,
            reason="符合条件",
            clock=clock(10),
        ),
    )
    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationCompleted(
            application_code=code,
            matter_code="household-transfer",
            elicence_number="EL-330100-2025-000123",
            clock=clock(10),
        ),
    )
    done = await until_status(client, integrator, code, "completed")
    assert done["missing_materials"] == []
    assert done["elicence_number"] == "EL-330100-2025-000123"
    assert done["departments"][0]["state"] == "approved"
    assert done["departments"][0]["reason"] == "符合条件"
    assert done["status_updated_at"] is not None

    # The list filter and the citizen lookup read the same status.
    listed = await client.get(
        "/v1/applications", params={"status": "completed"}, headers=integrator.headers
    )
    assert [a["application_code"] for a in listed.json()["applications"]] == [code]
    progress = await client.get("/v1/progress", params={"code": code, "last4": "5678"})
    assert progress.json()["status"] == "completed"


async def test_a_redelivered_event_is_applied_once_and_old_news_changes_nothing(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    follower: ApprovalFollower,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
) -> None:
    code = await submit(client, integrator, person_application)
    accepted = await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_ACCEPTED,
            clock=clock(10),
        ),
    )
    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationRejected(
            application_code=code,
            matter_code="household-transfer",
            department_code="public-security",
            reason="不符合迁入条件",
        ),
    )
    rejected = await until_status(client, integrator, code, "rejected")
    assert rejected["status_reason"] == "不符合迁入条件"

    # The same acceptance again (at-least-once delivery), then a new one that is older
    # news: neither reopens the rejected application.
    await publish(producer, follower.topic, accepted)
    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationAccepted(
            application_code=code,
            matter_code="household-transfer",
            outcome=approval_pb2.ACCEPTANCE_OUTCOME_SUPPLEMENT_REQUESTED,
            missing_materials=["housing-proof"],
        ),
    )
    marker = await send(
        producer,
        follower,
        code,
        approval_pb2.TaskAssigned(
            application_code=code, department_code="public-security", assignee="staff-7"
        ),
    )
    await eventually(
        lambda: pool.fetchval(
            "SELECT $2::uuid = ANY(event_ids) FROM intake.approval_status"
            " WHERE application_code = $1",
            code,
            marker.id,
        ),
        what="the last event applied",
    )
    after = await read(client, integrator, code)
    assert after["status"] == "rejected"
    assert after["missing_materials"] == []
    event_ids = await pool.fetchval(
        "SELECT event_ids FROM intake.approval_status WHERE application_code = $1", code
    )
    assert len(event_ids) == len(set(event_ids)) == 4
    assert follower.skipped >= 1


async def test_events_of_unknown_applications_and_undecodable_ones_do_not_stop_it(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    follower: ApprovalFollower,
    producer: AIOKafkaProducer,
    settings: IntakeSettings,
    pool: asyncpg.Pool,
) -> None:
    stranger = "330100-20000101-0000010"
    await send(
        producer,
        follower,
        stranger,
        approval_pb2.ApplicationWithdrawn(application_code=stranger, reason="x"),
    )
    await producer.send_and_wait(
        follower.topic,
        value=b"\xff not protobuf",
        key=stranger.encode(),
        headers=[("ce_id", b"1"), ("ce_type", b"onceonly.events.v1.Nothing")],
    )
    code = await submit(client, integrator, person_application)
    await send(
        producer,
        follower,
        code,
        approval_pb2.ApplicationWithdrawn(application_code=code, reason="不再需要"),
    )
    await until_status(client, integrator, code, "withdrawn")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM intake.approval_status WHERE application_code = $1", stranger
        )
        == 0
    )
    dlq = dead_letter_topic(settings.topic_prefix, "intake-approvals")
    async with TopicReader(settings.kafka_bootstrap, dlq) as reader:
        await reader.until(lambda records: len(records) == 1, what="the parked message")
    assert topic_name(settings.topic_prefix, Stream.APPROVAL_EVENTS) == follower.topic
