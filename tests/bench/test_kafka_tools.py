"""The benchmarks' raw read of a backlog, on the local Kafka: a rate over repeated reads
of exactly the backlog's offsets."""

from __future__ import annotations

import time
import uuid

import pytest

from bench.kafka_tools import delete_topics, read_rate, read_since
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.testing import test_kafka_bootstrap

pytestmark = pytest.mark.integration


async def test_the_raw_read_rate_reads_the_backlog_again_until_it_is_a_rate() -> None:
    bootstrap = test_kafka_bootstrap()
    prefix = f"test-raw-read-{uuid.uuid4().hex[:8]}."
    topic = f"{prefix}events"
    await ensure_topics(bootstrap, [topic], partitions=3)
    producer = build_producer(bootstrap, client_id=prefix)
    await producer.start()
    try:
        since_ms = int(time.time() * 1000) - 1000
        sent = [
            await producer.send(topic, value=b"x" * 200, key=str(i % 7).encode())
            for i in range(300)
        ]
        for future in sent:
            await future
        records, _ = await read_since(bootstrap, [topic], since_ms)
        assert len(records) == 300
        # A part of the backlog: only its offsets are read, however often.
        part = [r for r in records if r.partition == records[0].partition][:20]
        found = await read_rate(bootstrap, part, min_seconds=0.2)
        assert found["passes"] >= 1 and found["records_read"] == 20 * found["passes"]
        whole = await read_rate(bootstrap, records, min_seconds=0.2)
        assert whole["records_read"] == 300 * whole["passes"]
        assert whole["seconds"] >= 0.2
        assert whole["records_per_s"] == pytest.approx(
            whole["records_read"] / whole["seconds"], 0.01
        )
        assert (await read_rate(bootstrap, []))["passes"] == 0
    finally:
        await producer.stop()
        await delete_topics(bootstrap, prefix)
