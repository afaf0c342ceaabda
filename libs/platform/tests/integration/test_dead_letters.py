"""Dead letters against the real broker: a consumer parks what it cannot handle, an
operator lists it, looks at it, and sends it again once the cause is fixed; the
consumer then handles it."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from aiokafka import ConsumerRecord
from typer.testing import CliRunner

from onceonly.events.v1 import approval_pb2
from onceonly.platform.dead_letters import REDRIVEN_HEADER, dead_letter_commands
from onceonly.platform.envelope import Envelope, new_envelope
from onceonly.platform.kafka import (
    EventConsumer,
    PermanentMessageError,
    build_producer,
    ensure_topics,
    publish,
)
from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import eventually, test_kafka_bootstrap, unique_prefix
from onceonly.platform.topics import dead_letter_topic

pytestmark = pytest.mark.integration


async def test_a_parked_event_is_listed_shown_and_redriven_once_fixed() -> None:
    prefix = unique_prefix()
    settings = PlatformSettings(
        environment="test", topic_prefix=prefix, kafka_bootstrap=test_kafka_bootstrap()
    )
    source, dlq = f"{prefix}.approval-events.v1", dead_letter_topic(prefix, "unit")
    await ensure_topics(settings.kafka_bootstrap, [source, dlq])
    broken = True
    handled: list[tuple[str, bytes | None]] = []

    async def handler(envelope: Envelope, record: ConsumerRecord) -> None:
        if broken:
            raise PermanentMessageError("no template for this event (fixed in the next release)")
        redriven = dict(record.headers).get(REDRIVEN_HEADER)
        handled.append((envelope.id, redriven))

    producer = build_producer(settings.kafka_bootstrap, client_id="test")
    await producer.start()
    consumer = EventConsumer(
        bootstrap=settings.kafka_bootstrap,
        topics=[source],
        group_id=f"{prefix}-unit",
        consumer_name="unit",
        dead_letter_topic=dlq,
        handler=handler,
        producer=producer,
    )
    await consumer.start()
    running = asyncio.create_task(consumer.run())
    cli = dead_letter_commands(lambda: settings, consumers=["unit"])
    runner = CliRunner()
    try:
        event = new_envelope(
            approval_pb2.TaskStarted(application_code="T-9", department_code="tax"),
            source="/onceonly/test",
            application_code="T-9",
        )
        await publish(producer, source, event)
        await eventually(lambda: _parked(consumer), within=30, what="the event parked")

        listed = await asyncio.to_thread(runner.invoke, cli, ["list", "--json"])
        assert listed.exit_code == 0, listed.output
        [row] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["event_id"] == event.id and row["key"] == "T-9"
        assert row["reason"] == "no template for this event (fixed in the next release)"
        assert row["source"].startswith(f"{source}/")
        shown = await asyncio.to_thread(runner.invoke, cli, ["show", row["place"]])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["headers"]["ce_type"].endswith("TaskStarted")

        broken = False  # the release that fixes it
        sent = await asyncio.to_thread(runner.invoke, cli, ["redrive", "--reason", "template"])
        assert sent.exit_code == 0, sent.output
        await eventually(lambda: _handled(handled), within=30, what="the redriven event")
        assert handled == [(event.id, f"{dlq}@{row['place']}".encode())]
        unknown = await asyncio.to_thread(runner.invoke, cli, ["show", "7:7"])
        assert unknown.exit_code != 0 and "no dead letter at 7:7" in unknown.output
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await consumer.stop()
        await producer.stop()


async def _parked(consumer: EventConsumer) -> bool:
    return consumer.parked == 1


async def _handled(handled: list[tuple[str, bytes | None]]) -> bool:
    return len(handled) == 1
