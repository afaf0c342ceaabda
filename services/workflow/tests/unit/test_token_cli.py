"""`onceonly-workflow token` prints a token for one API, under that API's current key,
that the API accepts; it refuses what the APIs would refuse."""

from __future__ import annotations

import os

import jwt
import pytest
from typer.testing import CliRunner

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.http import Problem
from onceonly.platform.settings import PlatformSettings
from onceonly.workflow.cli import app

DEVELOPMENT = {"ONCEONLY_ENVIRONMENT": "development"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ONCEONLY_"):
            monkeypatch.delenv(name)


def token(*args: str, env: dict[str, str] = DEVELOPMENT) -> str:
    result = CliRunner().invoke(app, ["token", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def api_tokens(api: StaffApi) -> StaffTokens:
    return StaffTokens.from_settings(PlatformSettings(environment="development"), api)


def test_a_token_per_api_accepted_by_that_api_only() -> None:
    reviewer = token("--staff", "ps-1", "--department", "public-security")
    assert api_tokens(StaffApi.DEPARTMENT).verify(reviewer).department_code == "public-security"
    assert jwt.get_unverified_header(reviewer)["kid"] == "dev-department"
    supervisor = token(
        "--staff", "sup-1", "--department", "supervision-office", "--role", "supervision",
        "--api", "tracking",
    )  # fmt: skip
    assert api_tokens(StaffApi.TRACKING).verify(supervisor).roles == ("supervision",)
    for other in (StaffApi.DEPARTMENT, StaffApi.NOTIFY):
        with pytest.raises(Problem):
            api_tokens(other).verify(supervisor)


def test_what_the_apis_would_refuse_is_refused_here() -> None:
    runner = CliRunner()
    too_long = runner.invoke(
        app, ["token", "--staff", "x", "--department", "tax", "--hours", "13"], env=DEVELOPMENT
    )
    assert too_long.exit_code == 2 and "ONCEONLY_STAFF_TOKEN_MAX_HOURS" in too_long.output
    unknown = runner.invoke(
        app, ["token", "--staff", "x", "--department", "no-such-dept"], env=DEVELOPMENT
    )
    assert unknown.exit_code == 2 and "no department" in unknown.output
    bad_api = runner.invoke(
        app, ["token", "--staff", "x", "--department", "tax", "--api", "intake"], env=DEVELOPMENT
    )
    assert bad_api.exit_code == 2


def test_without_development_or_keys_it_refuses_in_one_line() -> None:
    result = CliRunner().invoke(app, ["token", "--staff", "x", "--department", "tax"], env={})
    assert result.exit_code == 1
    assert "ONCEONLY_DEPARTMENT_API_TOKEN_KEYS (or ONCEONLY_DEPARTMENT_API_TOKEN_KEYS_FILE)" in (
        str(result.exception)
    )
    keys = "ops-2026:an-operator-department-api-key-32-bytes"
    production = {
        "ONCEONLY_ENVIRONMENT": "production",
        "ONCEONLY_DEPARTMENT_API_TOKEN_KEYS": keys,
    }
    printed = token("--staff", "ps-1", "--department", "tax", env=production)
    assert jwt.get_unverified_header(printed)["kid"] == "ops-2026"
