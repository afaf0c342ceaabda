"""What a consumer did with its events, in Prometheus: handled and dead-lettered per
consumer, both series there from the consumer's start; and the endpoint of a process
without an API."""

from __future__ import annotations

import urllib.request

from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from onceonly.events.v1 import approval_pb2
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import EventConsumer, PermanentMessageError
from onceonly.platform.memory_kafka import MemoryBroker
from onceonly.platform.metrics import serve_metrics
from onceonly.platform.testing import free_port


def record(offset: int, value: bytes | None = None) -> ConsumerRecord:
    envelope = new_envelope(
        approval_pb2.TaskStarted(application_code="M-1", department_code="tax"),
        source="/onceonly/test",
        application_code="M-1",
    )
    data = envelope.data if value is None else value
    return ConsumerRecord(
        topic="m.approval-events.v1",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"M-1",
        value=data,
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=len(data),
        headers=envelope.headers(),
    )


def counted(name: str, consumer: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"consumer": consumer})


async def test_handled_and_dead_lettered_events_are_counted_per_consumer() -> None:
    async def handler(envelope: Envelope, message: ConsumerRecord) -> None:
        if message.offset == 2:
            raise PermanentMessageError("never processable")

    broker = MemoryBroker()
    events = EventConsumer(
        bootstrap="unused",
        topics=["m.approval-events.v1"],
        group_id="metrics-unit",
        consumer_name="metrics-unit",
        dead_letter_topic="m.dlq.metrics-unit",
        handler=handler,
        producer=broker.producer(),
        new_consumer=lambda: broker.consumer("m.approval-events.v1", group_id="metrics-unit"),
    )
    # Both series exist at 0 before the first event: increase() sees the first dead letter.
    assert counted("onceonly_events_handled_total", "metrics-unit") == 0
    assert counted("onceonly_events_dead_lettered_total", "metrics-unit") == 0

    await events._process(record(1))
    await events._process(record(2))  # the handler refuses it for good
    await events._process(record(3, value=b"\xff not protobuf"))  # undecodable
    await events._process(record(4))

    assert counted("onceonly_events_handled_total", "metrics-unit") == 2
    assert counted("onceonly_events_dead_lettered_total", "metrics-unit") == 2
    assert (events.processed, events.parked) == (2, 2)


def test_serve_metrics_serves_the_registry_and_port_0_serves_nothing() -> None:
    assert serve_metrics(0, host="127.0.0.1", process="unit") is None
    port = free_port()
    server = serve_metrics(port, host="127.0.0.1", process="unit")
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "# TYPE onceonly_events_handled_total counter" in text
