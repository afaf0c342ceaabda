"""The bridge: submissions and applicant updates from Kafka become workflow starts and
signals. Workflow id = application code, so a redelivered submission cannot start a
second workflow. Also the starts of the workflows of their own: a filed 12345 work order,
a bad rating's rectification (差评整改, from RatingGiven) and a supervision case (督办件,
from the red SupervisionAlert that names it), each under its own code as id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

import structlog
from aiokafka import ConsumerRecord
from opentelemetry import trace
from prometheus_client import Counter
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from onceonly.catalogue import Catalogue, default_catalogue
from onceonly.events.v1 import application_pb2, supervision_pb2, workorder_pb2
from onceonly.platform.db import create_pool, prepare_database
from onceonly.platform.deferral import EventNotReady
from onceonly.platform.deferral_store import postgres_deferrals
from onceonly.platform.envelope import Envelope
from onceonly.platform.heartbeat import run_heartbeat
from onceonly.platform.kafka import (
    EventConsumer,
    PermanentMessageError,
    build_producer,
    ensure_topics,
    wait_for_kafka,
)
from onceonly.platform.metrics import ConsumerGroup, serve_metrics
from onceonly.platform.topics import Stream, all_topics, dead_letter_topic, topic_name
from onceonly.workflow.case_clocks import (
    DEFAULT_CASE_LEVELS,
    CaseLevel,
    opens_rectification,
    rectification_code,
)
from onceonly.workflow.case_shared import (
    RECTIFICATION_WORKFLOW,
    SUPERVISION_CASE_WORKFLOW,
    CaseLevelInput,
    RectificationInput,
    SupervisionCaseInput,
)
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import (
    WORKFLOW_NAME,
    AgentInput,
    ApplicationInput,
    ConsentInput,
    ContactInput,
    SupervisionPolicy,
    SupplementInput,
    WithdrawalInput,
)
from onceonly.workflow.temporal import application_trace, connect
from onceonly.workflow.work_order_shared import WORK_ORDER_WORKFLOW, WorkOrderInput
from onceonly.workflow.workflows import JointApproval

log = structlog.get_logger(__name__)
S = TypeVar("S")

_APPLICANT_KINDS = {
    application_pb2.APPLICANT_KIND_PERSON: "person",
    application_pb2.APPLICANT_KIND_ORGANISATION: "organisation",
}


CONSUMER_NAME = "workflow-bridge"

WORKFLOW_STARTS = Counter(
    "onceonly_bridge_workflow_starts_total",
    "Submissions the bridge handled, by outcome: started (a new workflow), duplicate"
    " (redelivered; the workflow exists), conflict (the code belongs to another"
    " submission; dead-lettered)",
    ["outcome"],
)
# Every outcome's series from the start, so that the first conflict is an increase.
STARTED, DUPLICATE, CONFLICT = (
    WORKFLOW_STARTS.labels(outcome) for outcome in ("started", "duplicate", "conflict")
)


class ApplicationNotStarted(EventNotReady):
    """An update arrived before its submission's workflow exists (Kafka orders nothing
    across topics): it waits aside until the submission has started the workflow. A
    workflow is only ever started by a submission."""

    def __init__(self, code: str) -> None:
        super().__init__(f"the submission of {code} to start its workflow")


def application_input(
    event: application_pb2.ApplicationSubmitted, policy: SupervisionPolicy | None = None
) -> ApplicationInput:
    return ApplicationInput(
        application_code=event.application_code,
        matter_code=event.matter_code,
        integrator_id=event.integrator_id,
        applicant_kind=_APPLICANT_KINDS.get(event.applicant.kind, "unspecified"),
        materials=[material.code for material in event.materials],
        contact=ContactInput(
            mobile_sealed=event.contact.mobile.sealed,
            mobile_masked=event.contact.mobile.masked,
            channels=list(event.contact.channels),
            language=event.contact.language or "zh",
        ),
        submitted_at=event.submitted_at.ToDatetime().isoformat() + "Z",
        supervision=policy or SupervisionPolicy(),
        identifier_sealed=event.applicant.identifier.sealed,
        form_json=event.form_json,
        agent=agent_input(event.agent) if event.HasField("agent") else None,
        consents=[
            ConsentInput(
                purpose=consent.purpose,
                reference=consent.reference,
                given_at=consent.given_at.ToDatetime().isoformat() + "Z"
                if consent.HasField("given_at")
                else "",
            )
            for consent in event.consents
        ],
        competent_region=event.competent_region,
    )


def agent_input(agent: application_pb2.Agent) -> AgentInput:
    """The agent as the workflow keeps it: masked only (it never acts on the agent's data)."""
    authorisation = agent.authorisation
    return AgentInput(
        name_masked=agent.name.masked,
        identifier_masked=agent.identifier.masked,
        mobile_masked=agent.mobile.masked,
        relation=agent.relation,
        organisation=agent.organisation,
        scope=list(authorisation.scope),
        valid_from=authorisation.valid_from,
        valid_until=authorisation.valid_until,
        given_by=authorisation.given_by,
        letter_reference=authorisation.letter_reference,
        consent_reference=authorisation.consent_reference,
    )


_WORK_ORDER_KINDS = {
    workorder_pb2.WORK_ORDER_KIND_COMPLAINT: "complaint",
    workorder_pb2.WORK_ORDER_KIND_CONSULTATION: "consultation",
    workorder_pb2.WORK_ORDER_KIND_REQUEST: "request",
}
_WORK_ORDER_EVENTS = "onceonly.events.v1.WorkOrder"


def work_order_input(event: workorder_pb2.WorkOrderFiled) -> WorkOrderInput:
    """The workflow's input: codes and the caller's mobile (sealed, and masked)."""
    return WorkOrderInput(
        order_code=event.order_code,
        kind=_WORK_ORDER_KINDS.get(event.kind, "request"),
        department_code=event.department_code,
        region_code=event.region_code,
        filed_at=event.filed_at.ToDatetime(tzinfo=UTC).isoformat(),
        attached_application_code=event.attached_application_code,
        integrator_id=event.integrator_id,
        hotline_reference=event.hotline_reference,
        caller_mobile_sealed=event.caller_mobile.sealed,
        caller_mobile_masked=event.caller_mobile.masked,
        language=event.language or "zh",
    )


def _iso(stamp: object) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat()  # type: ignore[attr-defined]


def rectification_input(event: application_pb2.RatingGiven) -> RectificationInput | None:
    """The rectification a rating opens: None for a good rating, or one that names no
    department (ratings recorded before the step rated was)."""
    if not opens_rectification(event.level) or not event.department_code:
        return None
    return RectificationInput(
        case_code=rectification_code(event.application_code),
        application_code=event.application_code,
        department_code=event.department_code,
        rating_level=event.level,
        rated_at=_iso(event.rated_at),
        matter_code=event.matter_code,
        rating_comment=event.comment,
    )


def supervision_case_input(
    alert: supervision_pb2.SupervisionAlert,
    *,
    levels: tuple[CaseLevel, ...],
    catalogue: Catalogue,
) -> SupervisionCaseInput | None:
    """The supervision case a red alert opens, addressed to the late clock's department
    (for the application's own clock, the matter's lead or only department); None when
    the alert opens none, or names an application clock of an unknown matter."""
    if not alert.case_code:
        return None
    department = alert.department_code
    if not department:
        matter = catalogue.matter(alert.matter_code)
        if matter is None:
            return None
        department = matter.lead_department or matter.tasks[0].department
    return SupervisionCaseInput(
        case_code=alert.case_code,
        application_code=alert.application_code,
        department_code=department,
        levels=[CaseLevelInput(level.addressee, level.response_days) for level in levels],
        opened_at=_iso(alert.raised_at),
        matter_code=alert.matter_code,
        clock_department_code=alert.department_code,
        clock_due_at=_iso(alert.clock.due_at) if alert.clock.HasField("due_at") else "",
    )


def consumer_group(settings: WorkflowSettings) -> ConsumerGroup:
    """The bridge's Kafka consumer group and topics (also watched for lag by the API)."""
    return ConsumerGroup(
        consumer=CONSUMER_NAME,
        group_id=f"{settings.topic_prefix}-workflow-bridge",
        topics=[
            topic_name(settings.topic_prefix, Stream.SUBMISSIONS),
            topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES),
            topic_name(settings.topic_prefix, Stream.WORK_ORDERS),
            # Red alerts that open supervision cases.
            topic_name(settings.topic_prefix, Stream.SUPERVISION_ALERTS),
        ],
    )


class Bridge:
    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        policy: SupervisionPolicy | None = None,
        case_levels: tuple[CaseLevel, ...] = DEFAULT_CASE_LEVELS,
        catalogue: Catalogue | None = None,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._policy = policy or SupervisionPolicy()
        self._case_levels = case_levels
        self._catalogue = catalogue or default_catalogue()
        self.started = 0
        self.duplicates = 0
        self.conflicts = 0

    async def handle(self, envelope: Envelope, record: ConsumerRecord) -> None:
        message = envelope.message()
        if isinstance(message, application_pb2.ApplicationSubmitted):
            await self._start(message)
            return
        if isinstance(message, workorder_pb2.WorkOrderFiled):
            await self._start_work_order(message)
            return
        if envelope.type.startswith(_WORK_ORDER_EVENTS):
            return  # the work orders' own events, published by their workflows
        if isinstance(message, supervision_pb2.SupervisionAlert):
            case = supervision_case_input(
                message, levels=self._case_levels, catalogue=self._catalogue
            )
            if case is not None:
                await self._start_case(SUPERVISION_CASE_WORKFLOW, case, case.case_code)
            return
        if message.DESCRIPTOR.file is supervision_pb2.DESCRIPTOR:
            return  # the other supervision events: published by the workflows
        await self._link_to_application(envelope.subject)
        if isinstance(message, application_pb2.WithdrawalRequested):
            await self._signal(
                message.application_code, JointApproval.withdraw, WithdrawalInput(message.reason)
            )
        elif isinstance(message, application_pb2.SupplementProvided):
            materials = [material.code for material in message.materials]
            await self._signal(
                message.application_code, JointApproval.supplement, SupplementInput(materials)
            )
        elif isinstance(message, application_pb2.RatingGiven):
            rectification = rectification_input(message)
            if rectification is not None:
                await self._start_case(
                    RECTIFICATION_WORKFLOW, rectification, rectification.case_code
                )
        else:
            log.info("event not for the bridge", type=envelope.type, event_id=envelope.id)

    async def _link_to_application(self, code: str) -> None:
        """Link the span of an applicant update (in the trace of the request that made
        it) to the application's trace; the workflow's handler of the signal links back.
        Best effort: without a workflow yet, or with Temporal away, it stays unlinked."""
        span = trace.get_current_span()
        if not code or not span.is_recording():
            return
        try:
            application = await application_trace(self._client, code)
        except RPCError as exc:
            log.info("update not linked to its application's trace", error=exc.status.name)
            return
        if application is not None:
            span.add_link(application, {"onceonly.link": "application"})

    async def _start(self, event: application_pb2.ApplicationSubmitted) -> None:
        wanted = application_input(event, self._policy)
        try:
            await self._client.start_workflow(
                WORKFLOW_NAME,
                wanted,
                id=event.application_code,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            self.started += 1
            STARTED.inc()
            log.info("workflow started", application_code=event.application_code)
        except WorkflowAlreadyStartedError:
            # A redelivery of the same submission: nothing to do. Another submission
            # under the same code (its intake database reset or restored while Temporal
            # kept its history) must not vanish silently: it goes to the dead letters.
            existing = await self._started_input(event.application_code)
            if existing is not None and existing.submitted_at != wanted.submitted_at:
                self.conflicts += 1
                CONFLICT.inc()
                raise PermanentMessageError(
                    f"application code {event.application_code} already belongs to the"
                    f" application submitted at {existing.submitted_at}; this one, submitted"
                    f" at {wanted.submitted_at}, was not started"
                ) from None
            self.duplicates += 1
            DUPLICATE.inc()
            log.info("workflow already exists", application_code=event.application_code)

    async def _start_work_order(self, event: workorder_pb2.WorkOrderFiled) -> None:
        """A filed 12345 work order becomes its own workflow (id = the order's code, so a
        redelivery starts nothing)."""
        try:
            await self._client.start_workflow(
                WORK_ORDER_WORKFLOW,
                work_order_input(event),
                id=event.order_code,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            log.info("work order started", order_code=event.order_code)
        except WorkflowAlreadyStartedError:
            log.info("work order already exists", order_code=event.order_code)

    async def _start_case(self, workflow: str, argument: object, code: str) -> None:
        """A rectification or a supervision case becomes its own workflow (id = its code,
        so a redelivery starts nothing)."""
        try:
            await self._client.start_workflow(
                workflow,
                argument,
                id=code,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            log.info("case started", workflow=workflow, case_code=code)
        except WorkflowAlreadyStartedError:
            log.info("case already exists", workflow=workflow, case_code=code)

    async def _started_input(self, code: str) -> ApplicationInput | None:
        """The input the existing workflow of `code` was started with."""
        handle = self._client.get_workflow_handle(code)
        async for history_event in handle.fetch_history_events():
            started = history_event.workflow_execution_started_event_attributes
            payloads = list(started.input.payloads)
            if not payloads:
                return None
            [found] = await self._client.data_converter.decode(payloads, [ApplicationInput])
            return found  # type: ignore[no-any-return]
        return None

    async def _signal(
        self, code: str, signal: Callable[[JointApproval, S], None], argument: S
    ) -> None:
        handle = self._client.get_workflow_handle(code)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApplicationNotStarted(code) from exc
            raise
        if description.status != WorkflowExecutionStatus.RUNNING:
            log.info(
                "signal for a closed application dropped",
                application_code=code,
                signal=signal.__name__,
            )
            return
        await handle.signal(signal, argument)


async def run_bridge(settings: WorkflowSettings) -> None:
    serve_metrics(
        settings.bridge_metrics_port, host=settings.workflow_api_host, process="workflow-bridge"
    )
    # The heartbeat and the deferred events.
    pool = await create_pool(settings.database_url, max_size=3)
    await prepare_database(pool, component="workflow", package="onceonly.workflow")
    await wait_for_kafka(settings.kafka_bootstrap)
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    client = await connect(settings)
    producer = build_producer(settings.kafka_bootstrap, client_id="onceonly-workflow-bridge")
    await producer.start()
    bridge = Bridge(
        client,
        task_queue=settings.temporal_task_queue,
        policy=settings.supervision_policy(),
        case_levels=settings.case_levels(),
    )
    group = consumer_group(settings)
    consumer = EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        topics=list(group.topics),
        group_id=group.group_id,
        consumer_name=group.consumer,
        dead_letter_topic=dead_letter_topic(settings.topic_prefix, group.consumer),
        handler=bridge.handle,
        producer=producer,
        # Starts of different applications in parallel; each application's own events
        # (a submission, then its updates) in order; offsets committed after the starts.
        concurrency=settings.bridge_concurrency,
        # Keyed by the group: every replica of this bridge shares them, no other.
        deferrals=postgres_deferrals(pool, group.group_id, settings),
    )
    await consumer.start()
    beat = asyncio.create_task(
        run_heartbeat(
            pool,
            "workflow-bridge",
            every=settings.heartbeat_seconds,
            detail=lambda: {"started": bridge.started, "duplicates": bridge.duplicates},
        )
    )
    log.info("bridge started")
    try:
        await consumer.run()
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        await consumer.stop()
        await producer.stop()
        await pool.close()
