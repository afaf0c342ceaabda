"""Fixtures every service's integration tests share: where the test database and Kafka
are, and a Kafka producer. Helpers without fixtures live in onceonly.platform.testing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import uvicorn
from fastapi import FastAPI

from onceonly.platform.kafka import build_producer
from onceonly.platform.renewing_producer import RenewingProducer
from onceonly.platform.testing import test_database_url, test_kafka_bootstrap


@pytest.fixture(scope="session")
def database_url() -> str:
    return test_database_url()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return test_kafka_bootstrap()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[RenewingProducer]:
    """An idempotent producer like the services', started for one test."""
    created = build_producer(kafka_bootstrap, client_id="onceonly-tests")
    await created.start()
    yield created
    await created.stop()


@contextmanager
def _served(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread with its own event loop
    (the app's lifespan opens its own pools and clients there); yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"{app.title} did not start (see its log)")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture(scope="session")
def serve_api() -> Callable[[FastAPI], AbstractContextManager[str]]:
    """Serves an API over real HTTP for a test module (schemathesis runs)."""
    return _served
