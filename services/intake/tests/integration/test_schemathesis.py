"""Schemathesis against the live OpenAPI schema of intake: no server error, and every
answer (status, media type, headers, body) is one the schema documents.

The API runs under uvicorn on a free port of this machine, on the test database, and is
called over real HTTP with a real integrator's API key. Rate limits are raised so that
the generated requests reach the handlers; their 429 answers are tested elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from onceonly.intake.api import create_app
from onceonly.intake.relay import run_relay
from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.testing import eventually, migrated_pool, unique_prefix

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies use `random`; nothing of ours to fix.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation: with a dozen operations the run takes about a minute on two cores.
# Raise it for a deeper run: ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES=500 pytest this file.
MAX_EXAMPLES = int(os.environ.get("ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES", "40"))

# `positive_data_acceptance` is left out on purpose: a schema cannot express check
# digits, birth dates or the catalogue's materials, so schema-valid bodies are mostly 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    negative_data_rejection,
]


@dataclass(frozen=True)
class LiveIntake:
    base_url: str
    api_key: str


async def _create_integrator(database_url: str) -> str:
    async with migrated_pool(
        database_url, component="intake", package="onceonly.intake", max_size=2
    ) as pool:
        _, key = await IntegratorStore(pool).create_integrator(
            f"schemathesis {uuid.uuid4().hex[:8]}"
        )
    return key.token


def _serve(settings: IntakeSettings, server: uvicorn.Server, listener: socket.socket) -> None:
    """The API and the relay, as `onceonly-intake api` and `relay` run them."""

    async def both() -> None:
        relay = asyncio.create_task(run_relay(settings))
        try:
            await server.serve(sockets=[listener])
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay

    asyncio.run(both())


@pytest.fixture(scope="module")
def live_intake(database_url: str, kafka_bootstrap: str) -> Iterator[LiveIntake]:
    """The intake API served over HTTP, with its relay, in a thread (own event loop and
    pools), on the test database and a topic prefix of its own."""
    api_key = asyncio.run(_create_integrator(database_url))
    settings = IntakeSettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique_prefix(),
        heartbeat_seconds=2.0,
        integrator_post_rate_per_second=10_000.0,
        integrator_post_burst=10_000,
        progress_rate_per_minute=600_000.0,
        progress_burst=10_000,
        progress_failures_per_minute=1_000_000,
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=_serve, args=(settings, server, listener), daemon=True)
    thread.start()
    try:
        # Ready when /health says so: the relay's heartbeat has been seen.
        asyncio.run(
            eventually(
                lambda: _healthy(base_url, thread),
                within=120,
                interval=0.2,
                what="a healthy intake API and relay",
            )
        )
        yield LiveIntake(base_url, api_key)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


async def _healthy(base_url: str, thread: threading.Thread) -> bool:
    """Whether /health answers 200; fails at once if the server's thread has ended."""
    if not thread.is_alive():
        raise AssertionError("the intake API and relay stopped before they became healthy")
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"{base_url}/health")).status_code == 200
    except httpx.HTTPError:
        return False


# Uploads are raw bytes of their media type, as the octet-stream serializer sends them
# (image/* is known to schemathesis already, application/pdf is not).
schemathesis.serializer.alias("application/pdf", "application/octet-stream")

# The schema is the app's own, built at collection time (it needs no database), so
# that pytest lists one test per operation; the test below checks that the running API
# serves exactly this schema.
SCHEMA_DOCUMENT = create_app(IntakeSettings(environment="development")).openapi()
schema = schemathesis.openapi.from_dict(SCHEMA_DOCUMENT)


def test_the_running_api_serves_the_schema_under_test(live_intake: LiveIntake) -> None:
    served = httpx.get(f"{live_intake.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == SCHEMA_DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_to_its_schema(case: schemathesis.Case, live_intake: LiveIntake) -> None:
    # An explicit key: `ignored_auth` replays the request without it, and with a wrong
    # one, and expects a 401 for each.
    case.call_and_validate(
        base_url=live_intake.base_url,
        headers={"Authorization": f"Bearer {live_intake.api_key}"},
        checks=CHECKS,
        timeout=30,
    )
