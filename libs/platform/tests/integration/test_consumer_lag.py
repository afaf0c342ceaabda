"""Consumer lag measured from the broker: uncommitted partitions count in full, commits
bring it down, and a topic that does not exist is neither measured nor created; the
monitor describes its own topics only."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import UnknownTopicOrPartitionError
from prometheus_client import REGISTRY

from onceonly.platform.kafka import ensure_topics
from onceonly.platform.metrics import ConsumerGroup, ConsumerLagMonitor, describe_existing
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


async def topics_of(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await admin.list_topics()
    finally:
        await admin.close()


async def test_lag_counts_what_the_group_has_not_committed(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    prefix = unique_prefix("lag")
    topic, missing = f"{prefix}.events.v1", f"{prefix}.never-created.v1"
    group = unique_prefix("lag-group")
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    sent = [await producer.send_and_wait(topic, b"x", partition=n % 2) for n in range(5)]
    on_first = sum(1 for meta in sent if meta.partition == 0)

    monitor = ConsumerLagMonitor(kafka_bootstrap, [ConsumerGroup("test", group, [topic, missing])])
    try:
        assert await monitor.measure() == {("test", topic): 5}
        labels = {"consumer": "test", "topic": topic}
        assert REGISTRY.get_sample_value("onceonly_kafka_consumer_lag", labels) == 5

        # The group commits everything of partition 0.
        committer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await committer.start()
        try:
            first = TopicPartition(topic, 0)
            committer.assign([first])
            await committer.commit({first: on_first})
        finally:
            await committer.stop()
        assert await monitor.measure() == {("test", topic): 5 - on_first}
        assert REGISTRY.get_sample_value("onceonly_kafka_consumer_lag", labels) == 5 - on_first
    finally:
        await monitor.close()

    assert missing not in await topics_of(kafka_bootstrap)


async def test_describe_existing_answers_for_the_named_topics_alone(kafka_bootstrap: str) -> None:
    prefix = unique_prefix("described")
    topic, missing = f"{prefix}.events.v1", f"{prefix}.never-created.v1"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    client = AIOKafkaClient(bootstrap_servers=kafka_bootstrap)
    await client.bootstrap()
    try:
        described = {d["topic"]: d for d in await describe_existing(client, [topic, missing])}
        assert await describe_existing(client, []) == []
    finally:
        await client.close()
    # Only the two named (the broker holds every other test's topics too).
    assert set(described) == {topic, missing}
    assert described[topic]["error_code"] == 0
    assert sorted(p["partition"] for p in described[topic]["partitions"]) == [0, 1]
    assert described[missing]["error_code"] == UnknownTopicOrPartitionError.errno
    # A broker that auto-creates answers "unknown" too and creates the topic after it.
    await asyncio.sleep(1.0)
    assert missing not in await topics_of(kafka_bootstrap)
