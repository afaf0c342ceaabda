"""The installation job's preparation, on the real Postgres and Kafka: every component's
migrations recorded, every stream's topic present, and a second run changes nothing."""

from __future__ import annotations

import asyncpg
import pytest

from onceonly.platform.partition_reader import topic_partitions
from onceonly.platform.prepare import COMPONENTS, prepare
from onceonly.platform.settings import PlatformSettings
from onceonly.platform.testing import unique_prefix
from onceonly.platform.topics import all_topics

pytestmark = pytest.mark.integration


async def test_migrations_and_topics_are_prepared_once(
    database_url: str, kafka_bootstrap: str
) -> None:
    prefix = unique_prefix("prepare")
    settings = PlatformSettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
    )
    assert await topic_partitions(kafka_bootstrap, all_topics(prefix)) == []

    done = await prepare(settings, COMPONENTS)
    assert done[: len(COMPONENTS)] == [f"migrations: {c} up to date" for c in COMPONENTS]
    partitions = await topic_partitions(kafka_bootstrap, all_topics(prefix))
    assert {tp.topic for tp in partitions} == set(all_topics(prefix))

    connection = await asyncpg.connect(database_url)
    try:
        recorded = await connection.fetch(
            "SELECT DISTINCT component FROM platform.schema_migrations"
        )
    finally:
        await connection.close()
    assert {"platform", *COMPONENTS} <= {row["component"] for row in recorded}

    assert await prepare(settings, COMPONENTS) == done  # idempotent
