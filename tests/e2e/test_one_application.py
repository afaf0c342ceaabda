"""One application through all four services, as `make demo` shows it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from onceonly.platform.envelope import Envelope
from onceonly.platform.partition_reader import topic_partitions
from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import eventually
from onceonly.platform.topics import Stream, topic_name
from tests.e2e.support import (
    DEADLINE_SECONDS,
    MOBILE,
    RESIDENT_ID,
    Endpoints,
    household_transfer,
    submit,
    timeline_types,
)

pytestmark = pytest.mark.e2e


async def kafka_envelopes(settings: PlatformSettings, stream: Stream, code: str) -> list[Envelope]:
    """Every message of `code` on a stream of the running system, read from the start."""
    consumer = AIOKafkaConsumer(
        topic_name(settings.topic_prefix, stream),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[Envelope] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1500, max_records=5000)
            if not batch:
                return found
            for records in batch.values():
                found.extend(
                    Envelope.from_kafka(r.headers, r.value)
                    for r in records
                    if r.key == code.encode()
                )
    finally:
        await consumer.stop()


async def test_one_application_flows_through_every_service(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    integrator_key: str,
    staff_headers,
    platform_settings: PlatformSettings,
) -> None:
    # 1. An integrator submits; intake answers only once the application is durable.
    answer = await submit(http, endpoints.intake, integrator_key, household_transfer())
    assert answer.status_code == 201, answer.text
    code = answer.json()["application_code"]

    # 2. The bridge started the workflow: the department sees the task.
    police = staff_headers("public-security", staff="ps-0042")

    async def task_listed() -> bool:
        tasks = (await http.get(f"{endpoints.workflow}/v1/tasks", headers=police)).json()
        return any(task["application_code"] == code for task in tasks)

    await eventually(task_listed, within=DEADLINE_SECONDS, what="the public-security task")

    # 3. The department decides through the workflow API (a Temporal Update).
    decided = await http.post(
        f"{endpoints.workflow}/v1/applications/{code}/tasks/public-security/decision",
        json={"outcome": "approved"},
        headers=police,
    )
    assert decided.status_code == 200, decided.text

    # 4. Tracking holds the ordered timeline, notifications included.
    supervision = staff_headers("supervision-office", "supervision")

    async def complete_timeline() -> list[str] | None:
        types = await timeline_types(http, endpoints.tracking, code, supervision)
        done = "ApplicationCompleted" in types and types.count("NotificationSent") >= 2
        return types if done else None

    types = await eventually(
        complete_timeline, within=DEADLINE_SECONDS, what="the completed timeline"
    )
    core = [t for t in types if t != "NotificationSent"]
    assert core == [
        "ApplicationSubmitted",
        "ApplicationAccepted",
        "TaskStarted",
        "TaskDecided",
        "ApplicationCompleted",
    ]
    timeline = (
        await http.get(f"{endpoints.tracking}/v1/applications/{code}/timeline", headers=supervision)
    ).json()
    ids = [entry["event_id"] for entry in timeline["entries"]]
    assert len(ids) == len(set(ids))
    verification = (
        await http.get(
            f"{endpoints.tracking}/v1/applications/{code}/timeline/verification",
            headers=supervision,
        )
    ).json()
    assert verification["intact"] is True
    # A late notification may join the timeline between the two reads, so the
    # verified chain lies between the timeline read before and the one read after.
    after = (
        await http.get(f"{endpoints.tracking}/v1/applications/{code}/timeline", headers=supervision)
    ).json()
    assert len(ids) <= verification["entries"] <= len(after["entries"])

    # 5. Notify sent the applicant an SMS on acceptance and on completion.
    operations = staff_headers("operations-centre", "operations")
    notes = await http.get(
        f"{endpoints.notify}/v1/notifications",
        params={"application_code": code},
        headers=operations,
    )
    assert notes.status_code == 200, notes.text
    text = json.dumps(notes.json(), ensure_ascii=False)
    assert code in text
    assert "1381234****" in text

    # Personal data never leaves in clear: not in the timeline, not in what notify shows.
    everything = json.dumps(timeline, ensure_ascii=False) + text
    assert MOBILE not in everything
    assert RESIDENT_ID not in everything
    assert "张伟" not in everything

    # 6. One trace: the submission's trace id continues through relay, bridge, workflow.
    submitted = await kafka_envelopes(platform_settings, Stream.SUBMISSIONS, code)
    approvals = await kafka_envelopes(platform_settings, Stream.APPROVAL_EVENTS, code)
    assert len(submitted) == 1
    trace_id = submitted[0].traceparent.split("-")[1]
    started = [e for e in approvals if e.type.endswith("TaskStarted")]
    assert started and all(e.traceparent.split("-")[1] == trace_id for e in started)


async def submitted_behind(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    integrator_key: str,
    settings: PlatformSettings,
    code: str,
) -> str:
    """The code of a new application whose submission goes to `code`'s partition of the
    submissions topic: submitted until one does (one in three, with three partitions).

    Intake's relay publishes its outbox in order through one producer, which keeps a
    partition in send order, so that submission lands behind anything intake had stored
    for `code` before; and tracking records a partition in offset order. The partition
    is the one the relay's producer picks: aiokafka's default partitioner on the key."""
    topic = topic_name(settings.topic_prefix, Stream.SUBMISSIONS)
    partitions = sorted(
        tp.partition for tp in await topic_partitions(settings.kafka_bootstrap, [topic])
    )
    assert partitions, topic

    def partition_of(key: str) -> int:
        return int(DefaultPartitioner()(key.encode(), partitions, partitions))

    for _ in range(30):  # (2/3)^30: a miss once in about 200,000 runs
        answer = await submit(http, endpoints.intake, integrator_key, household_transfer())
        assert answer.status_code == 201, answer.text
        later = str(answer.json()["application_code"])
        if partition_of(later) == partition_of(code):
            return later
    raise AssertionError(f"no submission went to the partition of {code}")


async def test_redelivered_submission_changes_nothing(
    http: httpx.AsyncClient,
    endpoints: Endpoints,
    integrator_key: str,
    staff_headers,
    platform_settings: PlatformSettings,
) -> None:
    """The same Idempotency-Key answers the first answer; one workflow, one timeline."""
    body = household_transfer()
    headers = {
        "Authorization": f"Bearer {integrator_key}",
        "Idempotency-Key": f"e2e-retry-{uuid.uuid4()}",
    }
    first = await http.post(f"{endpoints.intake}/v1/applications", json=body, headers=headers)
    again = await http.post(f"{endpoints.intake}/v1/applications", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    code = first.json()["application_code"]
    supervision = staff_headers("supervision-office", "supervision")

    async def accepted() -> list[str] | None:
        types = await timeline_types(http, endpoints.tracking, code, supervision)
        return types if "TaskStarted" in types else None

    # The workflow publishes its acceptance and its tasks' starts in one batch, in that
    # order, to the partition of approval events that tracking records in order: with
    # TaskStarted on the timeline, so is any acceptance published before it (a re-run
    # of the batch publishes the same event ids again).
    await eventually(accepted, within=DEADLINE_SECONDS, what="the accepted application")
    # A second submission would be on it once a submission made after both requests,
    # on the same partition, is on its own timeline.
    later = await submitted_behind(http, endpoints, integrator_key, platform_settings, code)

    async def later_recorded() -> list[str]:
        return await timeline_types(http, endpoints.tracking, later, supervision)

    await eventually(
        later_recorded,
        lambda types: "ApplicationSubmitted" in types,
        within=DEADLINE_SECONDS,
        what="the later submission on its timeline",
    )
    types = await timeline_types(http, endpoints.tracking, code, supervision)
    assert types.count("ApplicationSubmitted") == 1
    assert types.count("ApplicationAccepted") == 1
