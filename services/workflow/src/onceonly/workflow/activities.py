"""Activities: the workflow's I/O (catalogue look-ups, deadlines, publishing events)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time, timedelta, timezone

from aiokafka import AIOKafkaProducer
from temporalio import activity
from temporalio.exceptions import ApplicationError

from onceonly.catalogue import Catalogue, DayKind
from onceonly.catalogue.calendar import WorkingCalendar
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka import publish
from onceonly.platform.telemetry import current_trace_headers
from onceonly.platform.topics import Stream, topic_name
from onceonly.workflow.shared import (
    DeadlineRequest,
    DeadlineResult,
    MaterialSpec,
    MatterRequest,
    MatterSnapshot,
    PublishRequest,
    TaskSpec,
)

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
SOURCE = "/onceonly/workflow"


class ApprovalActivities:
    """Activity methods; the clients they use are given by the worker."""

    def __init__(
        self,
        *,
        producer: AIOKafkaProducer,
        topic_prefix: str,
        catalogue: Catalogue,
        calendar: WorkingCalendar,
    ) -> None:
        self._producer = producer
        self._prefix = topic_prefix
        self._catalogue = catalogue
        self._calendar = calendar

    @activity.defn(name="resolve_matter")
    async def resolve_matter(self, request: MatterRequest) -> MatterSnapshot:
        matter = self._catalogue.matter(request.matter_code)
        if matter is None:
            raise ApplicationError(
                f"unknown matter {request.matter_code!r}", type="UnknownMatter", non_retryable=True
            )
        return MatterSnapshot(
            code=matter.code,
            name=matter.name_zh,
            day_kind=matter.day_kind.value,
            committed_days=matter.committed_days,
            tasks=[
                TaskSpec(
                    department_code=task.department,
                    task_name=task.task_zh,
                    committed_days=task.committed_days,
                    notify_applicant=task.notify_applicant_of_decision,
                )
                for task in matter.tasks
            ],
            materials=[
                MaterialSpec(
                    code=material.code,
                    deficiency_tolerable=material.deficiency_tolerable,
                    replaced_by_check=material.replaced_by_check or "",
                )
                for material in matter.materials
            ],
            elicence_type=matter.elicence_type or "",
        )

    @activity.defn(name="compute_deadlines")
    async def compute_deadlines(self, request: DeadlineRequest) -> DeadlineResult:
        accepted = datetime.fromisoformat(request.accepted_at).astimezone(CHINA_STANDARD_TIME)
        due_at: list[str] = []
        provisional: list[bool] = []
        for days in request.limits:
            deadline = self._calendar.deadline(accepted.date(), days, DayKind(request.day_kind))
            end_of_day = datetime.combine(deadline.due, time(23, 59, 59), CHINA_STANDARD_TIME)
            due_at.append(end_of_day.astimezone(UTC).isoformat())
            provisional.append(deadline.provisional)
        return DeadlineResult(due_at=due_at, provisional=provisional)

    @activity.defn(name="publish_event")
    async def publish_event(self, request: PublishRequest) -> None:
        """Publish with the id the workflow chose, so a retried activity is a duplicate
        that consumers drop, not a second event."""
        trace = current_trace_headers()
        envelope = Envelope(
            id=request.event_id,
            type=request.ce_type,
            source=SOURCE,
            subject=request.application_code,
            data=base64.b64decode(request.data_b64),
            time=datetime.fromisoformat(request.time),
            traceparent=trace.get("traceparent", ""),
            tracestate=trace.get("tracestate", ""),
        )
        await publish(self._producer, topic_name(self._prefix, Stream(request.stream)), envelope)
