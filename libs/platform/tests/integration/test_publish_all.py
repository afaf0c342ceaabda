"""publish_all against a real broker: every event arrives, one key's in the order given."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from onceonly.events.v1 import approval_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import ensure_topics, publish_all
from onceonly.platform.testing import TopicReader, unique_prefix

pytestmark = pytest.mark.integration


async def test_one_keys_events_arrive_in_the_order_given(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = f"{unique_prefix('publish-all')}.approval-events.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=3)

    def started(code: str, department: str) -> Envelope:
        message = approval_pb2.TaskStarted(application_code=code, department_code=department)
        return new_envelope(message, source="/onceonly/test", application_code=code)

    sent = [started(code, f"dept-{n}") for n in range(10) for code in ("A-1", "A-2")]
    await publish_all(producer, topic, sent)

    async with TopicReader(kafka_bootstrap, topic) as reader:
        records = await reader.until(lambda records: len(records) >= len(sent), what="all events")
    ids_by_key: dict[bytes, list[str]] = {}
    for record in records:
        ids_by_key.setdefault(record.key, []).append(dict(record.headers)["ce_id"].decode())
    assert ids_by_key == {
        code.encode(): [e.id for e in sent if e.subject == code] for code in ("A-1", "A-2")
    }
