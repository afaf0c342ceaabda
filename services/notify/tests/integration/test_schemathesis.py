"""Schemathesis against notify's own OpenAPI schema, served over HTTP on the test
database and Kafka: staff routes called with an operations token, the integrator routes
with an integrator's API key (made in intake's key table, as intake's CLI makes it). No
generated request is answered with a server error."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from onceonly.notify.api import create_app
from onceonly.notify.settings import NotifySettings
from onceonly.platform.integrator_keys import PostgresIntegratorKeys
from onceonly.platform.testing import migrated_pool, unique_prefix

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies use `random`; nothing of ours to fix.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation; raise it for a deeper run: ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES=500.
MAX_EXAMPLES = int(os.environ.get("ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES", "10"))


async def _integrator_key(database_url: str) -> str:
    async with migrated_pool(
        database_url, component="notify", package="onceonly.notify", max_size=2
    ) as pool:
        key = await PostgresIntegratorKeys(pool).issue(f"int-{uuid.uuid4().hex[:10]}")
    return key.token


@pytest.fixture(scope="module")
def live_notify(
    database_url: str,
    kafka_bootstrap: str,
    serve_api: Callable[[FastAPI], AbstractContextManager[str]],
) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The base URL, an operations token's headers and an integrator key's headers."""
    prefix = unique_prefix()
    configured = NotifySettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        notify_consumer_group=f"{prefix}-notify",
    )
    token = configured.staff_tokens().issue(
        staff_id="schemathesis", department_code="operations-centre", roles=("operations",)
    )
    integrator_key = asyncio.run(_integrator_key(database_url))
    with serve_api(create_app(configured)) as base_url:
        yield (
            base_url,
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"Bearer {integrator_key}"},
        )


# Built at collection time (no database needed), so that pytest lists one test per
# operation; `/health` takes no input.
schema = schemathesis.openapi.from_dict(
    create_app(NotifySettings(environment="development")).openapi()
).exclude(path="/health")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_is_a_server_error(
    case: schemathesis.Case, live_notify: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    base_url, staff, integrator = live_notify
    headers = integrator if case.path.startswith("/v1/integrator/") else staff
    case.call_and_validate(
        base_url=base_url, headers=headers, checks=[not_a_server_error], timeout=30
    )
