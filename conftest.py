"""Fixtures every service's integration tests share: where the test database and Kafka
are, and a Kafka producer. Helpers without fixtures live in onceonly.platform.testing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from onceonly.platform.kafka import build_producer
from onceonly.platform.testing import test_database_url, test_kafka_bootstrap


@pytest.fixture(scope="session")
def database_url() -> str:
    return test_database_url()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return test_kafka_bootstrap()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """An idempotent producer like the services', started for one test."""
    created = build_producer(kafka_bootstrap, client_id="onceonly-tests")
    await created.start()
    yield created
    await created.stop()
