"""ensure_topics waits for the brokers to describe what it created: which metadata
answers count as usable."""

from __future__ import annotations

from typing import Any

from onceonly.platform.kafka import not_yet_described


def topic(name: str, *, error: int = 0, leaders: tuple[int, ...] = (1, 2, 3)) -> dict[str, Any]:
    return {
        "topic": name,
        "error_code": error,
        "partitions": [{"partition": n, "leader": leader} for n, leader in enumerate(leaders)],
    }


def test_every_topic_with_a_leader_on_each_partition_is_ready() -> None:
    assert not_yet_described([topic("a"), topic("b")], ["a", "b"]) == []


def test_an_unknown_topic_is_not_ready() -> None:
    # UNKNOWN_TOPIC_OR_PARTITION, as a broker answers before it has the topic.
    assert not_yet_described([topic("a"), topic("b", error=3, leaders=())], ["a", "b"]) == ["b"]


def test_a_topic_missing_from_the_answer_is_not_ready() -> None:
    assert not_yet_described([topic("a")], ["a", "b"]) == ["b"]


def test_a_partition_without_a_leader_is_not_ready() -> None:
    assert not_yet_described([topic("a", leaders=(1, -1, 3))], ["a"]) == ["a"]


def test_a_topic_with_no_partitions_is_not_ready() -> None:
    assert not_yet_described([topic("a", leaders=())], ["a"]) == ["a"]
