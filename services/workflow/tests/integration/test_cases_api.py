"""Rectifications (差评整改) and supervision cases (督办件) through the real system: a bad
RatingGiven and a red SupervisionAlert that names its case on Kafka, the real bridge
starting their workflows on the Temporal dev server, the real activities publishing their
events and keeping the department's lists in Postgres, and the department API taking each
step; wrong department (404) and wrong role (403) change nothing, bad input is a 4xx
naming the field."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import application_pb2, approval_pb2, supervision_pb2
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, build_producer, ensure_topics, publish
from onceonly.platform.testing import TopicReader, eventually
from onceonly.platform.topics import Stream, all_topics, dead_letter_topic, topic_name
from onceonly.workflow.api import create_app
from onceonly.workflow.bridge import Bridge, consumer_group
from onceonly.workflow.case_activities import CaseActivities
from onceonly.workflow.case_clocks import case_code, rectification_code
from onceonly.workflow.case_list import PostgresCaseList
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker

pytestmark = pytest.mark.integration

DEPARTMENT = "fire"
MATTER = "construction-joint-approval"


@pytest_asyncio.fixture
async def api(settings: WorkflowSettings, make_real_activities: Any) -> AsyncIterator[Any]:
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    producer = build_producer(settings.kafka_bootstrap, client_id="test-cases")
    await producer.start()
    client = await connect(settings)
    pool = await create_pool(settings.database_url, max_size=2)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    worker = build_worker(
        client,
        task_queue=settings.temporal_task_queue,
        activities=make_real_activities(settings, producer),
        cases=CaseActivities(
            producer=producer,
            topic_prefix=settings.topic_prefix,
            calendar=default_calendar(),
            rectification=settings.rectification_limit(),
            cases=PostgresCaseList(pool),
        ),
    )
    bridge = Bridge(
        client, task_queue=settings.temporal_task_queue, case_levels=settings.case_levels()
    )
    group = consumer_group(settings)
    assert topic_name(settings.topic_prefix, Stream.SUPERVISION_ALERTS) in group.topics
    consumer = EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        topics=list(group.topics),
        group_id=f"{settings.topic_prefix}-bridge",
        consumer_name="workflow-bridge",
        dead_letter_topic=dead_letter_topic(settings.topic_prefix, "workflow-bridge"),
        handler=bridge.handle,
        producer=producer,
    )
    await consumer.start()
    running = asyncio.create_task(consumer.run())
    app = create_app(settings, client=client)
    transport = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wf")
    started: list[str] = []
    async with worker, app.router.lifespan_context(app), transport as http:
        yield settings, http, pool, producer, started
        for code in started:
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(code).terminate("test over")
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await consumer.stop()
    await producer.stop()
    await pool.close()


def token(settings: WorkflowSettings, department: str, *roles: str) -> dict[str, str]:
    issued = settings.staff_tokens().issue(
        staff_id=f"staff-{department}-{roles[0]}", department_code=department, roles=roles
    )
    return {"Authorization": f"Bearer {issued}"}


def new_code() -> str:
    return f"330100-20261205-{uuid.uuid4().int % 10**7:07d}"


async def rate(settings: WorkflowSettings, producer: Any, code: str, level: int) -> None:
    event = application_pb2.RatingGiven(
        application_code=code,
        level=level,
        comment="窗口办理太慢",
        department_code=DEPARTMENT,
        matter_code=MATTER,
    )
    event.rated_at.FromDatetime(datetime.now(UTC))
    envelope = new_envelope(event, source="/test", application_code=code)
    await publish(producer, topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES), envelope)


async def red_alert(settings: WorkflowSettings, producer: Any, code: str) -> str:
    case = case_code(code, DEPARTMENT, 1)
    event = supervision_pb2.SupervisionAlert(
        application_code=code,
        matter_code=MATTER,
        department_code=DEPARTMENT,
        level=supervision_pb2.SUPERVISION_LEVEL_RED,
        clock=approval_pb2.Clock(committed_days=10, day_kind="working"),
        case_code=case,
    )
    now = datetime.now(UTC)
    event.raised_at.FromDatetime(now)
    event.clock.due_at.FromDatetime(now - timedelta(seconds=1))
    envelope = new_envelope(event, source="/test", application_code=code)
    await publish(producer, topic_name(settings.topic_prefix, Stream.SUPERVISION_ALERTS), envelope)
    return case


async def stored(pool: Any, code: str) -> tuple[str, int] | None:
    row = await pool.fetchrow(
        "SELECT status, version FROM workflow.cases WHERE case_code = $1", code
    )
    return (row["status"], row["version"]) if row else None


async def test_a_bad_rating_is_rectified_through_the_api(api: Any) -> None:
    settings, http, pool, producer, started = api
    code = new_code()
    case = rectification_code(code)
    started.append(case)
    await rate(settings, producer, code, level=1)
    await rate(settings, producer, new_code(), level=4)  # a good rating opens nothing
    reviewer = token(settings, DEPARTMENT, "reviewer")

    async def listed() -> list[dict[str, Any]]:
        response = await http.get("/v1/rectifications", headers=reviewer)
        assert response.status_code == 200, response.text
        return [item for item in response.json()["items"] if item["case_code"] == case]

    [item] = await eventually(listed, what="the rectification in the department's list", within=30)
    assert item["status"] == "open" and item["rating_level"] == 1 and item["limit_days"] == 15
    assert item["rating_comment"] == "窗口办理太慢" and item["level"] == "none"
    base = f"/v1/rectifications/{case}"

    # Another department: the same 404 as an unknown case; the window and supervision: 403.
    other = token(settings, "tax", "reviewer")
    for headers, path, status in [
        (other, f"{base}/callback", 404),
        (reviewer, "/v1/rectifications/ZG-330100-20990101-0000001/callback", 404),
        (token(settings, DEPARTMENT, "window"), f"{base}/callback", 403),
        (token(settings, DEPARTMENT, "supervision"), f"{base}/callback", 403),
    ]:
        response = await http.post(path, json={"note": "called"}, headers=headers)
        assert response.status_code == status, (path, response.text)
    listed_elsewhere = (await http.get("/v1/rectifications", headers=other)).json()["items"]
    assert all(item["case_code"] != case for item in listed_elsewhere)
    # Bad input names the field; a step out of order is a 409.
    blank = await http.post(f"{base}/callback", json={"note": "  "}, headers=reviewer)
    assert blank.status_code == 422 and "note" in blank.text
    extra = await http.post(f"{base}/callback", json={"note": "x", "shout": 1}, headers=reviewer)
    assert extra.status_code == 422 and "shout" in extra.text
    early = await http.post(f"{base}/answer", json={"answer": "done"}, headers=reviewer)
    assert early.status_code == 409, early.text
    assert await stored(pool, case) == ("open", 1)  # nothing changed

    called = await http.post(f"{base}/callback", json={"note": "已回访"}, headers=reviewer)
    assert called.status_code == 200, called.text
    assert called.json()["status"] == "called_back"
    rectified = await http.post(
        f"{base}/rectification", json={"measures": "增设窗口"}, headers=reviewer
    )
    assert rectified.json()["status"] == "rectified"
    head = token(settings, DEPARTMENT, "department_head")
    answered = await http.post(f"{base}/answer", json={"answer": "已书面答复"}, headers=head)
    assert answered.json()["status"] == "answered" and answered.json()["late"] is False
    view = await http.post(f"{base}/view", json={"satisfied": "maybe"}, headers=reviewer)
    assert view.status_code == 422 and "satisfied" in view.text
    closed = await http.post(
        f"{base}/view", json={"satisfied": True, "comment": "满意"}, headers=reviewer
    )
    assert closed.json()["status"] == "closed" and closed.json()["rater_satisfied"] is True

    async def closed_in_list() -> bool:
        return (await stored(pool, case) or ("", 0))[0] == "closed"

    await eventually(closed_in_list, what="the rectification closed in the list", within=30)
    again = await http.post(f"{base}/view", json={"satisfied": True}, headers=reviewer)
    assert again.status_code == 409
    topic = topic_name(settings.topic_prefix, Stream.SUPERVISION_ALERTS)
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.until(
            lambda found: len(_of(found, code)) >= 5, what="the rectification's events"
        )
    types = [envelope.type.rsplit(".", 1)[-1] for envelope in _of(records, code)]
    assert types == [
        "RectificationOpened",
        "RectificationProgressed",
        "RectificationProgressed",
        "RectificationAnswered",
        "RectificationClosed",
    ]


async def test_a_supervision_case_closes_only_with_the_heads_response(api: Any) -> None:
    settings, http, pool, producer, started = api
    code = new_code()
    case = await red_alert(settings, producer, code)
    started.append(case)
    head = token(settings, DEPARTMENT, "department_head")

    async def listed() -> list[dict[str, Any]]:
        response = await http.get("/v1/supervision-cases?status=open", headers=head)
        assert response.status_code == 200, response.text
        return [item for item in response.json()["items"] if item["case_code"] == case]

    [item] = await eventually(listed, what="the case in the department's list", within=30)
    assert (item["level"], item["addressee"], item["status"]) == (1, "department_head", "open")
    assert item["clock_department_code"] == DEPARTMENT and item["response_due_at"]
    base = f"/v1/supervision-cases/{case}/response"

    for headers, path, status in [
        (token(settings, "tax", "department_head"), base, 404),
        (head, f"/v1/supervision-cases/{case_code(new_code(), DEPARTMENT, 1)}/response", 404),
        (token(settings, DEPARTMENT, "reviewer"), base, 403),
        (token(settings, DEPARTMENT, "window"), base, 403),
    ]:
        response = await http.post(path, json={"response": "done"}, headers=headers)
        assert response.status_code == status, (path, response.text)
    for body, field in [
        ({"response": ""}, "response"),
        ({}, "response"),
        ({"reply": "x"}, "reply"),
    ]:
        response = await http.post(base, json=body, headers=head)
        assert response.status_code == 422 and field in response.text, response.text
    assert await stored(pool, case) == ("open", 1)  # nothing changed

    closed = await http.post(
        base, json={"response": "已完成审批, 超期原因: 专家论证"}, headers=head
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["late"] is False

    async def closed_in_list() -> bool:
        return (await stored(pool, case) or ("", 0))[0] == "closed"

    await eventually(closed_in_list, what="the case closed in the list", within=30)
    again = await http.post(base, json={"response": "again"}, headers=head)
    assert again.status_code == 409
    bad_cursor = await http.get("/v1/supervision-cases?cursor=@@", headers=head)
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.text


def _of(records: list[Any], code: str) -> list[Envelope]:
    envelopes = [Envelope.from_kafka(list(r.headers or ()), r.value or b"") for r in records]
    return [envelope for envelope in envelopes if envelope.subject == code]
