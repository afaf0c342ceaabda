"""HotlineWorkOrder on the time-skipping server: yellow then red when an order is not
signed for in time, reopening on an unsatisfied callback, closing on a satisfied one, and
the validators' refusals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onceonly.catalogue.calendar import default_calendar
from onceonly.events.v1 import supervision_pb2
from onceonly.workflow.shared import ErrorType
from onceonly.workflow.work_order_activities import WorkOrderActivities
from onceonly.workflow.work_order_shared import (
    CallbackInput,
    ReplyInput,
    SignInput,
    WorkOrderInput,
    WorkOrderView,
)
from onceonly.workflow.work_order_workflow import HotlineWorkOrder
from services.workflow.tests.conftest import RecordingProducer

DEPARTMENT = "market-regulation"
STAFF = {"staff_id": "s-1", "staff_department": DEPARTMENT, "staff_roles": ["reviewer"]}


class ListedViews:
    def __init__(self) -> None:
        self.views: list[WorkOrderView] = []

    async def record(self, view: WorkOrderView) -> None:
        self.views.append(view)


@dataclass
class Orders:
    env: WorkflowEnvironment
    task_queue: str
    producer: RecordingProducer
    listed: ListedViews

    async def file(self, *, attached: str = "") -> WorkflowHandle:
        code = f"WO330100-{uuid.uuid4().hex[:10]}"
        return await self.env.client.start_workflow(
            HotlineWorkOrder.run,
            WorkOrderInput(
                order_code=code,
                kind="complaint",
                department_code=DEPARTMENT,
                region_code="330100",
                filed_at=datetime.now(UTC).isoformat(),
                attached_application_code=attached,
                caller_mobile_sealed="sealed",
                caller_mobile_masked="138****0000",
            ),
            id=code,
            task_queue=self.task_queue,
        )

    def types(self) -> list[str]:
        return self.producer.types()


@pytest_asyncio.fixture
async def orders(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Orders]:
    producer = RecordingProducer()
    listed = ListedViews()
    task_queue = f"wo-{uuid.uuid4().hex[:8]}"
    activities = WorkOrderActivities(
        producer=producer, topic_prefix="test", calendar=default_calendar(), work_orders=listed
    )
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[HotlineWorkOrder],
        activities=[activities.work_order_clocks, activities.publish_work_order_event],
    ):
        yield Orders(time_skipping_env, task_queue, producer, listed)


async def test_signed_for_late_goes_yellow_then_red(orders: Orders) -> None:
    handle = await orders.file(attached="330100-20261205-000001X")
    view = await handle.query(HotlineWorkOrder.view)
    assert view.status == "open" and view.level == "none"
    # Four working hours, however the weekend falls: a week is past the deadline.
    await orders.env.sleep(timedelta(days=7))
    alerts = orders.producer.messages("WorkOrderAlert")
    assert [(a.clock, a.level) for a in alerts] == [
        ("sign", supervision_pb2.SUPERVISION_LEVEL_YELLOW),
        ("sign", supervision_pb2.SUPERVISION_LEVEL_RED),
    ]
    # Yellow before the deadline (halfway), red at it.
    assert alerts[0].seconds_left > 0 >= alerts[1].seconds_left
    signed = await handle.execute_update(HotlineWorkOrder.sign, SignInput(**STAFF))
    assert signed.status == "signed"
    [message] = orders.producer.messages("WorkOrderSigned")
    assert message.late
    # Attached: every event is keyed by the application, carrying the order's code.
    assert {e.subject for _, e in orders.producer.sent} == {"330100-20261205-000001X"}
    # Signed a week late, the reply clock (five working days) runs late too.
    await orders.env.sleep(timedelta(days=7))
    alerts = orders.producer.messages("WorkOrderAlert")
    assert [(a.clock, a.level) for a in alerts[2:]] == [
        ("reply", supervision_pb2.SUPERVISION_LEVEL_YELLOW),
        ("reply", supervision_pb2.SUPERVISION_LEVEL_RED),
    ]
    assert orders.listed.views[-1].status == "signed"
    await handle.terminate("test done")


async def test_unsatisfied_callback_reopens_with_new_clocks(orders: Orders) -> None:
    handle = await orders.file()
    await handle.execute_update(HotlineWorkOrder.sign, SignInput(**STAFF))
    await handle.execute_update(HotlineWorkOrder.reply, ReplyInput(**STAFF, reply="Refunded."))
    [answered] = orders.producer.messages("WorkOrderAnswered")
    assert answered.reply == "Refunded." and not answered.late
    assert answered.caller_mobile.masked == "138****0000"
    first = await handle.query(HotlineWorkOrder.view)
    # A week later (whatever weekend lies between): the new round's deadline is later.
    await orders.env.sleep(timedelta(days=7))
    reopened = await handle.execute_update(
        HotlineWorkOrder.record_callback, CallbackInput(**STAFF, satisfied=False, comment="no")
    )
    assert reopened.status == "open" and reopened.round == 2
    assert first.sign_due_at is not None and reopened.sign_due_at is not None
    assert reopened.sign_due_at > first.sign_due_at
    [reopening] = orders.producer.messages("WorkOrderReopened")
    assert reopening.clocks.round == 2
    # Not yet signed again: the new round's sign clock alerts again.
    await orders.env.sleep(timedelta(days=7))
    alerts = orders.producer.messages("WorkOrderAlert")
    assert [(a.round, a.clock) for a in alerts] == [(2, "sign"), (2, "sign")]
    assert await handle.query(HotlineWorkOrder.view) is not None
    await handle.terminate("test done")
    # Unattached: the order's own code is the subject.
    assert {e.subject for _, e in orders.producer.sent} == {handle.id}


async def test_satisfied_callback_closes(orders: Orders) -> None:
    handle = await orders.file()
    await handle.execute_update(HotlineWorkOrder.sign, SignInput(**STAFF))
    await handle.execute_update(HotlineWorkOrder.reply, ReplyInput(**STAFF, reply="Done."))
    await handle.execute_update(
        HotlineWorkOrder.record_callback, CallbackInput(**STAFF, satisfied=True)
    )
    result = await handle.result()
    assert result.status == "closed" and result.satisfied is True
    assert orders.types() == [
        "WorkOrderOpened",
        "WorkOrderSigned",
        "WorkOrderAnswered",
        "WorkOrderCalledBack",
        "WorkOrderClosed",
    ]
    assert orders.listed.views[-1].status == "closed"


@pytest.mark.parametrize(
    ("staff", "error"),
    [
        ({**STAFF, "staff_department": "public-security"}, ErrorType.WRONG_DEPARTMENT),
        ({**STAFF, "staff_roles": ["window"]}, ErrorType.WRONG_ROLE),
    ],
)
async def test_refused_updates_change_nothing(
    orders: Orders, staff: dict[str, object], error: ErrorType
) -> None:
    handle = await orders.file()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(HotlineWorkOrder.sign, SignInput(**staff))  # type: ignore[arg-type]
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == error.value
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(HotlineWorkOrder.reply, ReplyInput(**STAFF, reply="x"))
    view = await handle.query(HotlineWorkOrder.view)
    assert view.status == "open" and view.version == 1
    assert orders.types() == ["WorkOrderOpened"]
    await handle.terminate("test done")
