"""End-to-end fixtures: the whole system as `make up` runs it (deploy/local).

These tests start nothing: `make test` brings the system up first. They talk to the
services only through their public HTTP APIs and read Kafka and Postgres only to check.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.settings import PlatformSettings
from tests.e2e.support import REPO, Endpoints, http_client


@pytest.fixture(scope="session")
def endpoints() -> Endpoints:
    def url(name: str, default: int) -> str:
        return f"http://127.0.0.1:{os.environ.get(name, default)}"

    return Endpoints(
        intake=url("ONCEONLY_INTAKE_PORT", 8000),
        workflow=url("ONCEONLY_WORKFLOW_API_PORT", 8001),
        tracking=url("ONCEONLY_TRACKING_PORT", 8002),
        notify=url("ONCEONLY_NOTIFY_PORT", 8003),
    )


@pytest.fixture(scope="session")
def platform_settings() -> PlatformSettings:
    """The keys of the running system: deploy/local/env's, development (said explicitly)
    unless the environment gives others."""
    return PlatformSettings(environment="development")


@pytest.fixture(scope="session")
def integrator_key() -> str:
    """A fresh integrator, created with the admin CLI as an operator would, in the
    services' environment (deploy/local/env)."""
    out = subprocess.run(
        [
            str(REPO / "deploy/local/services.sh"),
            "run",
            str(REPO / ".venv/bin/onceonly-intake"),
            "integrator",
            "create",
            "e2e test portal",
            "--reuse",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return str(json.loads(out)["api_key"])


@pytest.fixture(scope="session")
def staff_headers(platform_settings: PlatformSettings) -> Callable[..., dict[str, str]]:
    """Headers with a staff token for one API (a token is for one API only): by default
    the department API for reviewers and heads, tracking for supervision, notify for
    operations, as the staff of these roles use them."""

    def make(
        department: str, *roles: str, staff: str = "e2e-staff", api: StaffApi | None = None
    ) -> dict[str, str]:
        roles = roles or ("reviewer",)
        tokens = StaffTokens.from_settings(platform_settings, api or _api_of(roles))
        token = tokens.issue(staff_id=staff, department_code=department, roles=roles)
        return {"Authorization": f"Bearer {token}"}

    return make


def _api_of(roles: tuple[str, ...]) -> StaffApi:
    if "operations" in roles:
        return StaffApi.NOTIFY
    if "supervision" in roles:
        return StaffApi.TRACKING
    return StaffApi.DEPARTMENT


@pytest.fixture
async def http() -> Any:
    async with http_client() as client:
        yield client
