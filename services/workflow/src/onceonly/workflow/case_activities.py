"""The I/O of the Rectification and SupervisionCase workflows: their clocks' deadlines on
the working calendar, and publishing their events (then recording the case in the
department's list)."""

from __future__ import annotations

from temporalio import activity

from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.kafka_ports import Producer
from onceonly.platform.telemetry import current_trace_headers
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.case_clocks import (
    RectificationLimit,
    rectification_deadlines,
    working_deadline,
)
from onceonly.workflow.case_list import CaseListWriter
from onceonly.workflow.case_messages import to_message
from onceonly.workflow.case_shared import (
    CasePublish,
    RectificationClock,
    RectificationClockRequest,
    ResponseDue,
    ResponseDueRequest,
)

SOURCE = "/onceonly/workflow"


class CaseActivities:
    def __init__(
        self,
        *,
        producer: Producer,
        topic_prefix: str,
        calendar: WorkingCalendar,
        rectification: RectificationLimit | None = None,
        cases: CaseListWriter | None = None,
    ) -> None:
        self._producer = producer
        self._topic = topic_name(topic_prefix, Stream.SUPERVISION_ALERTS)
        self._calendar = calendar
        self._rectification = rectification or RectificationLimit()
        self._cases = cases

    @activity.defn(name="rectification_clock")
    async def rectification_clock(self, request: RectificationClockRequest) -> RectificationClock:
        """The rectification's deadlines under the limit configured now (kept in the
        history: a later change of the setting does not move a running case)."""
        limit = self._rectification
        deadlines = rectification_deadlines(self._calendar, limit, rated_at=request.rated_at)
        return RectificationClock(
            limit_days=limit.days, due_at=deadlines.due_at, yellow_at=deadlines.yellow_at
        )

    @activity.defn(name="case_response_due")
    async def case_response_due(self, request: ResponseDueRequest) -> ResponseDue:
        return ResponseDue(working_deadline(self._calendar, request.start, request.days))

    @activity.defn(name="publish_case_event")
    async def publish_case_event(self, request: CasePublish) -> None:
        """Publish with the id the workflow chose (a retry is a duplicate consumers drop),
        then record the case in the list: no list row runs ahead of its event."""
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
        if self._cases is not None:
            await self._cases.record(request.kind, request.view)
