"""Schemathesis against the department API's own OpenAPI schema, served over HTTP on
the test database and the Temporal dev server, with a token of a department's reviewer
and head (the department path parameter is that department's, so that requests reach
the handlers). No generated request is answered with a server error."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from onceonly.platform.testing import unique_prefix
from onceonly.workflow.api import create_app
from onceonly.workflow.settings import WorkflowSettings

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies use `random`; nothing of ours to fix.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# Per operation; raise it for a deeper run: ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES=500.
MAX_EXAMPLES = int(os.environ.get("ONCEONLY_SCHEMATHESIS_MAX_EXAMPLES", "10"))
DEPARTMENT = "public-security"


@pytest.fixture(scope="module")
def live_department_api(
    database_url: str,
    kafka_bootstrap: str,
    serve_api: Callable[[FastAPI], AbstractContextManager[str]],
) -> Iterator[tuple[str, dict[str, str]]]:
    configured = WorkflowSettings(
        environment="development",
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=unique_prefix(),
        temporal_task_queue=unique_prefix(),
    )
    token = configured.staff_tokens().issue(
        staff_id="schemathesis", department_code=DEPARTMENT, roles=("reviewer", "department_head")
    )
    with serve_api(create_app(configured)) as base_url:
        yield base_url, {"Authorization": f"Bearer {token}"}


# Built at collection time (no Temporal needed), so that pytest lists one test per
# operation; `/health` takes no input (and is 503 without a worker and a bridge).
schema = schemathesis.openapi.from_dict(
    create_app(WorkflowSettings(environment="development")).openapi()
).exclude(path="/health")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_is_a_server_error(
    case: schemathesis.Case, live_department_api: tuple[str, dict[str, str]]
) -> None:
    base_url, headers = live_department_api
    if case.path_parameters and "department" in case.path_parameters:
        case.path_parameters["department"] = DEPARTMENT
    case.call_and_validate(
        base_url=base_url, headers=headers, checks=[not_a_server_error], timeout=30
    )
