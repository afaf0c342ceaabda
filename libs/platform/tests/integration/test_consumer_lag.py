"""Consumer lag measured from the broker: uncommitted partitions count in full, commits
bring it down, and a topic that does not exist is neither measured nor created."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY

from onceonly.platform.kafka import ensure_topics
from onceonly.platform.metrics import ConsumerGroup, ConsumerLagMonitor
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


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

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()
