"""12345 work orders through the real system: a WorkOrderFiled on Kafka, the real bridge
starting HotlineWorkOrder on the Temporal dev server, the real activities publishing its
events and keeping the department's list in Postgres, and the department API signing,
replying and recording the callback; wrong department (404) and wrong role (403) change
nothing, bad input is a 422 naming the field."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import application_pb2, workorder_pb2
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.envelope import new_envelope
from onceonly.platform.kafka import EventConsumer, build_producer, ensure_topics, publish
from onceonly.platform.testing import eventually
from onceonly.platform.topics import Stream, all_topics, dead_letter_topic, topic_name
from onceonly.workflow.api import create_app
from onceonly.workflow.bridge import Bridge, consumer_group
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.temporal import connect
from onceonly.workflow.work_order_activities import WorkOrderActivities
from onceonly.workflow.work_order_list import PostgresWorkOrderList
from onceonly.workflow.worker import build_worker

pytestmark = pytest.mark.integration

DEPARTMENT = "market-regulation"


@pytest_asyncio.fixture
async def api(settings: WorkflowSettings, make_real_activities: Any) -> AsyncIterator[Any]:
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    producer = build_producer(settings.kafka_bootstrap, client_id="test-work-orders")
    await producer.start()
    client = await connect(settings)
    pool = await create_pool(settings.database_url, max_size=2)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    worker = build_worker(
        client,
        task_queue=settings.temporal_task_queue,
        activities=make_real_activities(settings, producer),
        work_orders=WorkOrderActivities(
            producer=producer,
            topic_prefix=settings.topic_prefix,
            calendar=default_calendar(),
            work_orders=PostgresWorkOrderList(pool),
        ),
    )
    bridge = Bridge(client, task_queue=settings.temporal_task_queue)
    group = consumer_group(settings)
    assert topic_name(settings.topic_prefix, Stream.WORK_ORDERS) in group.topics
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


def token(settings: WorkflowSettings, department: str, roles: tuple[str, ...]) -> dict[str, str]:
    issued = settings.staff_tokens().issue(
        staff_id=f"staff-{department}", department_code=department, roles=roles
    )
    return {"Authorization": f"Bearer {issued}"}


async def file(settings: WorkflowSettings, producer: Any) -> str:
    order_code = f"WO330100-20261205-{uuid.uuid4().int % 10**6:06d}"
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC))
    event = workorder_pb2.WorkOrderFiled(
        application_code=order_code,
        order_code=order_code,
        kind=workorder_pb2.WORK_ORDER_KIND_COMPLAINT,
        department_code=DEPARTMENT,
        region_code="330100",
        integrator_id="hotline",
        caller_mobile=application_pb2.SealedText(sealed="k:x", masked="1391234****"),
        filed_at=stamp,
    )
    envelope = new_envelope(event, source="/test", application_code=order_code)
    await publish(producer, topic_name(settings.topic_prefix, Stream.WORK_ORDERS), envelope)
    return order_code


async def test_sign_reply_reopen_and_close_through_the_api(api: Any) -> None:
    settings, http, pool, producer, started = api
    order_code = await file(settings, producer)
    started.append(order_code)
    reviewer = token(settings, DEPARTMENT, ("reviewer",))

    async def listed() -> list[dict[str, Any]]:
        response = await http.get("/v1/work-orders", headers=reviewer)
        assert response.status_code == 200, response.text
        return [o for o in response.json()["items"] if o["order_code"] == order_code]

    [order] = await eventually(listed, what="the order in the department's list", within=30)
    assert order["status"] == "open" and order["caller_mobile_masked"] == "1391234****"

    # Another department: the same 404 as an unknown order; the window: 403.
    other = token(settings, "tax", ("reviewer",))
    window = token(settings, DEPARTMENT, ("window",))
    base = f"/v1/work-orders/{order_code}"
    assert (await http.post(f"{base}/sign", headers=other)).status_code == 404
    unknown = await http.post("/v1/work-orders/WO330100-20990101-000001/sign", headers=reviewer)
    assert unknown.status_code == 404
    assert (await http.post(f"{base}/sign", headers=window)).status_code == 403
    assert (await http.get("/v1/work-orders", headers=window)).status_code == 403
    others = (await http.get("/v1/work-orders", headers=other)).json()["items"]
    assert all(o["order_code"] != order_code for o in others)
    # Bad input names the field; replying before signing is a 409.
    empty = await http.post(f"{base}/reply", json={"reply": ""}, headers=reviewer)
    assert empty.status_code == 422 and "reply" in empty.text
    early = await http.post(f"{base}/reply", json={"reply": "done"}, headers=reviewer)
    assert early.status_code == 409
    status = await pool.fetchval(
        "SELECT status FROM workflow.work_orders WHERE order_code = $1", order_code
    )
    assert status == "open"  # nothing changed

    signed = await http.post(f"{base}/sign", headers=reviewer)
    assert signed.status_code == 200 and signed.json()["status"] == "signed"
    answered = await http.post(f"{base}/reply", json={"reply": "已退款"}, headers=reviewer)
    assert answered.json()["status"] == "answered"
    reopened = await http.post(
        f"{base}/callback", json={"satisfied": False, "comment": "没解决"}, headers=reviewer
    )
    assert reopened.json()["status"] == "open" and reopened.json()["round"] == 2
    await http.post(f"{base}/sign", headers=reviewer)
    await http.post(f"{base}/reply", json={"reply": "已解决"}, headers=reviewer)
    closed = await http.post(f"{base}/callback", json={"satisfied": True}, headers=reviewer)
    assert closed.json()["status"] == "closed"

    async def closed_in_list() -> bool:
        return await pool.fetchval(
            "SELECT status = 'closed' FROM workflow.work_orders WHERE order_code = $1",
            order_code,
        )

    await eventually(closed_in_list, what="the order closed in the list", within=30)
    bad_cursor = await http.get("/v1/work-orders?cursor=@@", headers=reviewer)
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.text


async def test_list_pages_newest_first(api: Any) -> None:
    settings, http, pool, producer, started = api
    codes = [await file(settings, producer) for _ in range(3)]
    started.extend(codes)
    reviewer = token(settings, DEPARTMENT, ("department_head",))

    async def all_listed() -> int:
        return await pool.fetchval(
            "SELECT count(*) FROM workflow.work_orders WHERE order_code = ANY($1)", codes
        )

    await eventually(lambda: _at_least(all_listed, 3), what="three orders listed", within=30)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/v1/work-orders", params=params, headers=reviewer)).json()
        seen.extend(o["order_code"] for o in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert set(codes) <= set(seen) and len(seen) == len(set(seen))


async def _at_least(count: Any, wanted: int) -> bool:
    return int(await count()) >= wanted
