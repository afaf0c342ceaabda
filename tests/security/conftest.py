"""The security suite: attacks tried against the real processes and APIs, each test named
for what an attacker would try. Every test here needs the local infrastructure (the test
database at least), so each one is an integration test."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def clean_environment() -> dict[str, str]:
    """This process's environment without any ONCEONLY_ variable: a process started with
    it has only what a test gives it."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ONCEONLY_")}


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
