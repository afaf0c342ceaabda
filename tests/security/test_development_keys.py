"""Issue 15, item 1: the development keys published in the source do not open a deployed
system.

The tracking API, started as production starts it (`onceonly-tracking api`), refuses to
start with a development key, with no key, or in development while listening beyond
loopback: it exits at once with one line naming the setting, no stack trace, and never
listens. With keys of its own it starts, and accepts only tokens made for it under its
own keys: not a token signed with the development key, not a token for another API.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from onceonly.platform.auth import StaffApi, StaffTokens
from onceonly.platform.secrets import (
    DEVELOPMENT_SECRET,
    DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
    KeyRing,
)
from onceonly.platform.testing import eventually, production_keys, test_kafka_bootstrap
from onceonly.tracking.api import create_app
from onceonly.tracking.settings import TrackingSettings

TRACKING = Path(sys.executable).parent / "onceonly-tracking"
SETTING = "ONCEONLY_TRACKING_API_TOKEN_KEYS"

# name: (variables given, what the one line must say)
REFUSALS = {
    "production with the development key": (
        {"ONCEONLY_ENVIRONMENT": "production", SETTING: DEVELOPMENT_TRACKING_API_TOKEN_KEYS},
        [f"{SETTING} is a published development key", "ONCEONLY_ENVIRONMENT=production"],
    ),
    "production with the old single secret under a key id": (
        {"ONCEONLY_ENVIRONMENT": "production", SETTING: f"mine:{DEVELOPMENT_SECRET}"},
        [f"{SETTING} is a published development key"],
    ),
    "no environment, with the development key": (
        {SETTING: DEVELOPMENT_TRACKING_API_TOKEN_KEYS},
        [f"{SETTING} is a published development key", "ONCEONLY_ENVIRONMENT is not set"],
    ),
    "no environment, no key": (
        {},
        [f"{SETTING} (or {SETTING}_FILE) is not set", "ONCEONLY_ENVIRONMENT is not set"],
    ),
    "staging without a key": (
        {"ONCEONLY_ENVIRONMENT": "staging"},
        [f"{SETTING} (or {SETTING}_FILE) is not set"],
    ),
    "development listening on every interface": (
        {"ONCEONLY_ENVIRONMENT": "development", "ONCEONLY_TRACKING_HOST": "0.0.0.0"},
        [f"{SETTING} (or {SETTING}_FILE) is not set", "ONCEONLY_TRACKING_HOST=0.0.0.0"],
    ),
}


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_the_api_refuses_to_start(
    case: str, clean_environment: dict[str, str], free_port: int, database_url: str
) -> None:
    given, expected = REFUSALS[case]
    env = {
        **clean_environment,
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_TRACKING_PORT": str(free_port),
        **given,
    }
    result = subprocess.run(
        [str(TRACKING), "api"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("onceonly-tracking: refusing to start: ")
    for part in expected:
        assert part in lines[0], lines[0]
    assert DEVELOPMENT_TRACKING_API_TOKEN_KEYS not in result.stderr
    assert not listening(free_port)


def test_a_development_key_from_a_mounted_file_is_refused_too(
    clean_environment: dict[str, str], free_port: int, database_url: str, tmp_path: Path
) -> None:
    mounted = tmp_path / "tracking-api-token-keys"
    mounted.write_text(DEVELOPMENT_TRACKING_API_TOKEN_KEYS + "\n", encoding="utf-8")
    env = {
        **clean_environment,
        "ONCEONLY_ENVIRONMENT": "production",
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_TRACKING_PORT": str(free_port),
        f"{SETTING}_FILE": str(mounted),
    }
    result = subprocess.run(
        [str(TRACKING), "api"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{SETTING} is a published development key" in result.stderr


@pytest.fixture
def production_process(
    clean_environment: dict[str, str], free_port: int, database_url: str, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """The tracking API started as production: its own key, from a mounted file."""
    keys = production_keys()
    mounted = tmp_path / "tracking-api-token-keys"
    mounted.write_text(keys["tracking_api_token_keys"], encoding="utf-8")
    env = {
        **clean_environment,
        "ONCEONLY_ENVIRONMENT": "production",
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_KAFKA_BOOTSTRAP": test_kafka_bootstrap(),
        "ONCEONLY_TRACKING_PORT": str(free_port),
        f"{SETTING}_FILE": str(mounted),
    }
    log = (tmp_path / "tracking.log").open("wb")
    process = subprocess.Popen([str(TRACKING), "api"], env=env, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{free_port}", keys
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


async def test_with_its_own_keys_it_starts(
    production_process: tuple[str, dict[str, str]],
) -> None:
    url, _ = production_process

    async def health() -> int | None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            try:
                return (await http.get(f"{url}/health")).status_code
            except httpx.TransportError:
                return None

    # 200, or 503 while no tracking agent beats: either way the API is up.
    assert await eventually(health, within=60, what="the API answering /health") in {200, 503}


@pytest.fixture
async def production_app(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    keys = production_keys()
    settings = TrackingSettings(environment="production", database_url=database_url, **keys)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
            yield client, keys


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_only_its_own_tokens_open_it(
    production_app: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, keys = production_app
    url = "/v1/supervision/alerts"
    supervisor = {"staff_id": "sup-1", "department_code": "supervision-office"}
    roles = ("supervision",)

    def tokens(api: StaffApi, spec: str) -> StaffTokens:
        return StaffTokens(api=api, keys=KeyRing.parse(spec, setting="test"))

    own = tokens(StaffApi.TRACKING, keys["tracking_api_token_keys"])
    assert (await client.get(url, headers=bearer(own.issue(**supervisor, roles=roles)))).is_success
    development = tokens(StaffApi.TRACKING, DEVELOPMENT_TRACKING_API_TOKEN_KEYS)
    forged = development.issue(**supervisor, roles=roles)
    assert (await client.get(url, headers=bearer(forged))).status_code == 401
    department_api = tokens(StaffApi.DEPARTMENT, keys["department_api_token_keys"])
    elsewhere = department_api.issue(**supervisor, roles=roles)
    assert (await client.get(url, headers=bearer(elsewhere))).status_code == 401
    # The other API's audience under tracking's own key: refused for its audience alone.
    other_audience = tokens(StaffApi.DEPARTMENT, keys["tracking_api_token_keys"])
    refused = await client.get(url, headers=bearer(other_audience.issue(**supervisor, roles=roles)))
    assert refused.status_code == 401
    assert "another API" in refused.json()["detail"]
