"""Topics are created as the settings lay them out, on the real broker: partitions and
min.insync.replicas as set, and a replication factor the cluster cannot hold is refused
by the broker, not silently lowered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import InvalidReplicationFactorError

from onceonly.platform import kafka_connection
from onceonly.platform.kafka import ensure_topics
from onceonly.platform.kafka_connection import KafkaSecurity, TopicLayout
from onceonly.platform.partition_reader import topic_partitions
from onceonly.platform.testing import unique_prefix

pytestmark = pytest.mark.integration


@pytest.fixture
def laid_out() -> Iterator[None]:
    yield
    kafka_connection.use(KafkaSecurity(), TopicLayout())


async def min_insync(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})]
        )
    finally:
        await admin.close()
    [resource] = described.resources
    return {entry[0]: entry[1] for entry in resource[4]}["min.insync.replicas"]


async def test_topics_take_the_layout_of_the_settings(kafka_bootstrap: str, laid_out: None) -> None:
    kafka_connection.use(KafkaSecurity(), TopicLayout(partitions=5, min_insync_replicas=1))
    topic = f"{unique_prefix('layout')}.approval-events.v1"
    await ensure_topics(kafka_bootstrap, [topic])
    assert len(await topic_partitions(kafka_bootstrap, [topic])) == 5
    assert await min_insync(kafka_bootstrap, topic) == "1"

    # A consumer that depends on the count (faust's tables) still sets it.
    pinned = f"{unique_prefix('layout')}.tracking.v1"
    await ensure_topics(kafka_bootstrap, [pinned], partitions=2)
    assert len(await topic_partitions(kafka_bootstrap, [pinned])) == 2


async def test_a_replication_factor_beyond_the_cluster_is_refused(
    kafka_bootstrap: str, laid_out: None
) -> None:
    kafka_connection.use(KafkaSecurity(), TopicLayout(replication_factor=3, min_insync_replicas=2))
    topic = f"{unique_prefix('layout')}.approval-events.v1"
    with pytest.raises(InvalidReplicationFactorError):
        await ensure_topics(kafka_bootstrap, [topic])
    assert await topic_partitions(kafka_bootstrap, [topic]) == []
