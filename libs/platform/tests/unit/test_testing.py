"""The test support every service uses: polling with a deadline, names, where things are."""

from __future__ import annotations

import re
import socket

import pytest

from onceonly.platform import testing
from onceonly.platform.testing import eventually, unique_prefix


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        return self.calls


async def test_eventually_returns_the_first_result_that_is_done() -> None:
    probe = Counter()
    assert await eventually(probe, lambda n: n >= 3, interval=0) == 3
    assert probe.calls == 3


async def test_eventually_waits_for_a_truthy_result_by_default() -> None:
    answers = iter([None, [], ["TaskStarted"]])

    async def probe() -> list[str] | None:
        return next(answers)

    assert await eventually(probe, interval=0) == ["TaskStarted"]


async def test_eventually_fails_with_what_it_waited_for_and_the_last_result() -> None:
    probe = Counter()
    with pytest.raises(AssertionError, match=r"^no the marker within 0s; last result: \d+$"):
        await eventually(probe, lambda n: n < 0, within=0, what="the marker", interval=0)
    assert probe.calls >= 1  # probed at least once even with no time at all


def test_unique_prefixes_are_fresh() -> None:
    first, second = unique_prefix(), unique_prefix("test-reader")
    assert re.fullmatch(r"test-[0-9a-f]{8}", first)
    assert re.fullmatch(r"test-reader-[0-9a-f]{8}", second)
    assert first != unique_prefix()


def test_the_environment_says_where_the_test_infrastructure_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "ONCEONLY_TEST_DATABASE_URL",
        "ONCEONLY_TEST_KAFKA_BOOTSTRAP",
        "ONCEONLY_KAFKA_BOOTSTRAP",
    ):
        monkeypatch.delenv(name, raising=False)
    assert testing.test_database_url() == testing.DEFAULT_TEST_DATABASE_URL
    assert testing.test_kafka_bootstrap() == "127.0.0.1:9092"
    monkeypatch.setenv("ONCEONLY_KAFKA_BOOTSTRAP", "kafka:9092")
    assert testing.test_kafka_bootstrap() == "kafka:9092"
    monkeypatch.setenv("ONCEONLY_TEST_KAFKA_BOOTSTRAP", "test-kafka:9092")
    assert testing.test_kafka_bootstrap() == "test-kafka:9092"
    monkeypatch.setenv("ONCEONLY_TEST_DATABASE_URL", "postgresql://elsewhere/db")
    assert testing.test_database_url() == "postgresql://elsewhere/db"


def test_no_ports_asked_none_given() -> None:
    assert testing.free_ports(0) == []


def test_free_ports_are_distinct_and_free_to_bind_together() -> None:
    ports = testing.free_ports(12)
    assert len(set(ports)) == 12
    servers = []
    try:
        for port in ports:
            server = socket.socket()
            servers.append(server)
            server.bind(("127.0.0.1", port))  # raises if another took it
    finally:
        for server in servers:
            server.close()


def test_a_port_something_listens_on_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", testing.free_port()))
        listening.listen()
        taken = listening.getsockname()[1]
        sample = testing.random.sample
        # The taken port is the first candidate, twice.
        monkeypatch.setattr(testing.random, "sample", lambda *args: [taken, taken, *sample(*args)])
        ports = testing.free_ports(3)
    assert taken not in ports and len(set(ports)) == 3


def test_free_ports_come_from_below_the_ephemeral_range_and_the_fixed_ports() -> None:
    end = min(testing._ephemeral_start(), 27000)  # deploy/local's 27233 and 29092 and up
    assert all(1024 <= port < end for port in testing.free_ports(50))
