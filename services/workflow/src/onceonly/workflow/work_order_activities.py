"""The HotlineWorkOrder workflow's I/O: its clocks' deadlines on the working calendar,
and publishing its events (then recording the order in the department's list)."""

from __future__ import annotations

from temporalio import activity

from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.telemetry import current_trace_headers
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.work_order_clocks import (
    LimitOverrides,
    WorkOrderKind,
    limits_for,
    round_clocks,
)
from onceonly.workflow.work_order_list import WorkOrderListWriter
from onceonly.workflow.work_order_messages import to_message
from onceonly.workflow.work_order_shared import ClocksRequest, WorkOrderClocks, WorkOrderPublish

SOURCE = "/onceonly/workflow"


class WorkOrderActivities:
    def __init__(
        self,
        *,
        producer: Producer,
        topic_prefix: str,
        calendar: WorkingCalendar,
        limits: LimitOverrides | None = None,
        work_orders: WorkOrderListWriter | None = None,
    ) -> None:
        self._producer = producer
        self._topic = topic_name(topic_prefix, Stream.WORK_ORDERS)
        self._calendar = calendar
        self._limits = limits or {}
        self._work_orders = work_orders

    @activity.defn(name="work_order_clocks")
    async def work_order_clocks(self, request: ClocksRequest) -> WorkOrderClocks:
        limits = limits_for(WorkOrderKind(request.kind), request.region_code, self._limits)
        clocks = round_clocks(
            self._calendar, limits, started_at=request.started_at, round=request.round
        )
        return WorkOrderClocks(
            round=clocks.round,
            sign_hours=clocks.sign_hours,
            reply_days=clocks.reply_days,
            sign_due_at=clocks.sign_due_at,
            sign_yellow_at=clocks.sign_yellow_at,
            reply_due_at=clocks.reply_due_at,
            reply_yellow_at=clocks.reply_yellow_at,
        )

    @activity.defn(name="publish_work_order_event")
    async def publish_work_order_event(self, request: WorkOrderPublish) -> None:
        """Publish with the id the workflow chose (a retry is a duplicate consumers drop),
        then record the order in the list: no list row runs ahead of its event."""
        event = request.event
        message = to_message(event)
        trace = current_trace_headers()
        envelope = Envelope(
            id=event.event_id,
            type=message.DESCRIPTOR.full_name,
            source=SOURCE,
            subject=event.application_code,
            data=message.SerializeToString(deterministic=True),
            time=event.at,
            traceparent=trace.get("traceparent", ""),
            tracestate=trace.get("tracestate", ""),
        )
        await publish(self._producer, self._topic, envelope)
        if self._work_orders is not None:
            await self._work_orders.record(request.view)
