"""Schemathesis against the tracking API's own OpenAPI schema, served over HTTP on the
test database with a supervision token (which reads every application and the
figures): no generated request is answered with a server error."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from onceonly.platform.auth import StaffApi, issue_staff_token
from onceonly.platform.secrets import KeyRing
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies use `random`; nothing of ours to fix.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation; raise it for a deeper run: ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES=500.
MAX_EXAMPLES = int(os.environ.get("ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES", "10"))
KEYS = "test-1:tracking-api-test-secret-of-32-bytes-or-more"
AUTH = {
    "Authorization": "Bearer "
    + issue_staff_token(
        KeyRing.parse(KEYS, setting="test"),
        api=StaffApi.TRACKING,
        staff_id="schemathesis",
        department_code="supervision-office",
        roles=("supervision",),
    )
}


@pytest.fixture(scope="module")
def live_tracking(
    database_url: str,
    kafka_bootstrap: str,
    serve_api: Callable[[FastAPI], AbstractContextManager[str]],
) -> Iterator[str]:
    configured = TrackingSettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        tracking_api_token_keys=KEYS,
    )
    with serve_api(create_app(configured)) as base_url:
        yield base_url


# Built at collection time (no database needed), so that pytest lists one test per
# operation. `/health` is left out: without the agent running it answers its documented
# 503, and it takes no input.
schema = schemathesis.openapi.from_dict(
    create_app(TrackingSettings(environment="development", tracking_api_token_keys=KEYS)).openapi()
).exclude(path="/health")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_is_a_server_error(case: schemathesis.Case, live_tracking: str) -> None:
    case.call_and_validate(
        base_url=live_tracking, headers=AUTH, checks=[not_a_server_error], timeout=30
    )
