"""An applicant update that overtakes its submission, against the real bridge process
code (`run_bridge`), Kafka, Temporal and Postgres.

Submissions and applicant updates travel on different topics, so Kafka gives no order
between them. The bridge once retried such a withdrawal in place, and every application
behind it waited for good (issue 21): this test published the withdrawal first, let the
bridge fetch it alone, then the submissions; none of them was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from onceonly.events.v1 import application_pb2, envelope_pb2
from onceonly.platform.envelope import new_envelope
from onceonly.platform.kafka import build_producer, ensure_topics, publish
from onceonly.platform.testing import TopicReader, eventually
from onceonly.platform.topics import Stream, all_topics, dead_letter_topic, topic_name
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.bridge import consumer_group, run_bridge
from onceonly.workflow.settings import WorkflowSettings
from onceonly.workflow.shared import ApplicationResult, ApplicationState
from onceonly.workflow.temporal import connect
from onceonly.workflow.worker import build_worker

pytestmark = pytest.mark.integration

MATERIALS = ("transfer-application", "resident-id", "housing-proof", "household-register")
# Short enough for a test to see an update that never finds its submission parked.
MAX_WAIT_SECONDS = 6.0


@pytest.fixture
def settings(settings: WorkflowSettings) -> WorkflowSettings:
    return settings.model_copy(
        update={"deferral_max_wait_seconds": MAX_WAIT_SECONDS, "deferral_sweep_seconds": 1.0}
    )


@pytest_asyncio.fixture
async def client(
    settings: WorkflowSettings, make_real_activities: Callable[..., ApprovalActivities]
) -> AsyncIterator[Client]:
    """A Temporal client with a worker on the test's task queue (the bridge is started
    by each test, when it wants it)."""
    await ensure_topics(settings.kafka_bootstrap, all_topics(settings.topic_prefix))
    producer = build_producer(settings.kafka_bootstrap, client_id="test-workflow")
    await producer.start()
    connected = await connect(settings)
    activities = make_real_activities(settings, producer)
    worker = build_worker(connected, task_queue=settings.temporal_task_queue, activities=activities)
    async with worker:
        yield connected
    await producer.stop()


@contextlib.asynccontextmanager
async def bridge(settings: WorkflowSettings) -> AsyncIterator[None]:
    """The bridge process's own code, running until the block ends."""
    running = asyncio.create_task(run_bridge(settings))
    try:
        yield
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def code() -> str:
    return f"330100-20261204-{uuid.uuid4().int % 10**6:06d}X"


def submitted(application_code: str) -> application_pb2.ApplicationSubmitted:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return application_pb2.ApplicationSubmitted(
        application_code=application_code,
        matter_code="household-transfer",
        integrator_id="portal",
        applicant=application_pb2.Applicant(kind=application_pb2.APPLICANT_KIND_PERSON),
        materials=[application_pb2.Material(code=m, reference=f"doc://{m}") for m in MATERIALS],
        submitted_at=stamp,
    )


async def send(settings: WorkflowSettings, stream: Stream, events: list) -> None:
    producer = build_producer(settings.kafka_bootstrap, client_id="test-integrator")
    await producer.start()
    try:
        for event in events:
            envelope = new_envelope(
                event, source="/onceonly/intake", application_code=event.application_code
            )
            await publish(producer, topic_name(settings.topic_prefix, stream), envelope)
    finally:
        await producer.stop()


async def committed_updates(settings: WorkflowSettings) -> int:
    """Records of the applicant-updates topic the bridge's group has committed past."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(consumer_group(settings).group_id)
    finally:
        await admin.close()
    topic = topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES)
    return sum(
        meta.offset
        for tp, meta in offsets.items()
        if isinstance(tp, TopicPartition) and tp.topic == topic and meta.offset > 0
    )


async def status(client: Client, application_code: str) -> WorkflowExecutionStatus | None:
    try:
        return (await client.get_workflow_handle(application_code).describe()).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def test_a_withdrawal_ahead_of_its_submission_stalls_no_other_application(
    settings: WorkflowSettings, client: Client
) -> None:
    withdrawn, others = code(), [code() for _ in range(6)]
    await send(
        settings,
        Stream.APPLICANT_UPDATES,
        [application_pb2.WithdrawalRequested(application_code=withdrawn, reason="moved away")],
    )
    async with bridge(settings):
        # The bridge fetches the withdrawal alone (its submission is not published yet)
        # and must get past it: set aside, its offset committed.
        await eventually(
            lambda: committed_updates(settings),
            within=30,
            what="the bridge getting past a withdrawal whose submission is not there yet",
        )
        assert await status(client, withdrawn) is None  # an update never starts a workflow
        await send(
            settings,
            Stream.SUBMISSIONS,
            [submitted(c) for c in others[:3]]
            + [submitted(withdrawn)]
            + [submitted(c) for c in others[3:]],
        )

        async def running() -> list[WorkflowExecutionStatus | None]:
            return [await status(client, c) for c in others]

        await eventually(
            running,
            lambda found: all(s is WorkflowExecutionStatus.RUNNING for s in found),
            within=60,
            what="every other application started",
        )
        result = await asyncio.wait_for(
            client.get_workflow_handle(withdrawn, result_type=ApplicationResult).result(), 60
        )
        assert result.state == ApplicationState.WITHDRAWN
    for other in others:
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(other).terminate("test over")


async def test_an_update_whose_submission_never_comes_is_parked_with_its_reason(
    settings: WorkflowSettings, client: Client
) -> None:
    never = code()
    await send(
        settings,
        Stream.APPLICANT_UPDATES,
        [application_pb2.SupplementProvided(application_code=never)],
    )
    dead_letters = dead_letter_topic(settings.topic_prefix, consumer_group(settings).consumer)
    async with bridge(settings), TopicReader(settings.kafka_bootstrap, dead_letters) as reader:
        [parked] = await reader.until(
            lambda records: len(records) >= 1, within=60, what="the supplement parked"
        )
    letter = envelope_pb2.DeadLetter.FromString(parked.value)
    assert letter.source_topic == topic_name(settings.topic_prefix, Stream.APPLICANT_UPDATES)
    assert letter.key == never.encode()
    assert letter.reason.startswith("waited ")
    assert f"for the submission of {never} to start its workflow; gave up" in letter.reason
    assert await status(client, never) is None
