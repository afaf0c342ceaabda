"""An accepted application is never lost: Kafka down at submission time changes nothing
for the integrator, and the outbox relay publishes once the broker is back."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest

from onceonly.platform.testing import eventually
from tests.e2e.support import (
    REPO,
    Endpoints,
    household_transfer,
    submit,
    timeline_types,
)

pytestmark = pytest.mark.e2e


def infra(action: str, component: str) -> None:
    subprocess.run(
        [str(REPO / "deploy/local/infra.sh"), action, component],
        check=True,
        timeout=180,
        capture_output=True,
    )


async def test_submission_while_kafka_is_down_is_published_when_it_returns(
    http: httpx.AsyncClient, endpoints: Endpoints, integrator_key: str, staff_headers
) -> None:
    await asyncio.to_thread(infra, "stop", "kafka")
    try:
        answer = await submit(http, endpoints.intake, integrator_key, household_transfer())
        assert answer.status_code == 201, answer.text
        code = answer.json()["application_code"]
    finally:
        await asyncio.to_thread(infra, "start", "kafka")

    supervision = staff_headers("supervision-office", "supervision")

    async def started() -> list[str] | None:
        types = await timeline_types(http, endpoints.tracking, code, supervision)
        return types if "TaskStarted" in types else None

    # Consumers reconnect and rejoin their groups after the broker restart.
    types = await eventually(started, within=150, what="the application after the outage")
    assert types[0] == "ApplicationSubmitted"
    assert types.count("ApplicationSubmitted") == 1
