"""The statuses a process wrote, kept while the chain head is the one they were folded
up to (pure)."""

from __future__ import annotations

import pytest

from onceonly.tracking.status import ApplicationStatus
from onceonly.tracking.status_cache import StatusCache


def status(code: str, matter: str = "m") -> ApplicationStatus:
    return ApplicationStatus(application_code=code, matter_code=matter)


def test_a_status_is_given_only_at_the_head_it_was_folded_up_to() -> None:
    cache = StatusCache()
    cache.remember({"A": (2, "h2"), "B": (5, "h5")}, {"A": status("A"), "B": status("B")})
    found, missing = cache.lookup({"A": (2, "h2"), "B": (6, "h6"), "C": (1, "h1")})
    assert found == {"A": status("A")}
    assert missing == ["B", "C"]
    # The same sequence number with another hash is another chain (never a hit).
    assert cache.lookup({"A": (2, "other")}) == ({}, ["A"])


def test_a_newer_status_replaces_the_older() -> None:
    cache = StatusCache()
    cache.remember({"A": (1, "h1")}, {"A": status("A", "old")})
    cache.remember({"A": (2, "h2")}, {"A": status("A", "new")})
    assert cache.lookup({"A": (2, "h2")}) == ({"A": status("A", "new")}, [])
    assert cache.lookup({"A": (1, "h1")}) == ({}, ["A"])
    assert len(cache) == 1


def test_the_least_recently_used_leaves_first() -> None:
    cache = StatusCache(capacity=2)
    cache.remember({"A": (1, "a")}, {"A": status("A")})
    cache.remember({"B": (1, "b")}, {"B": status("B")})
    cache.lookup({"A": (1, "a")})  # A used after B
    cache.remember({"C": (1, "c")}, {"C": status("C")})
    assert len(cache) == 2
    assert cache.lookup({"A": (1, "a"), "B": (1, "b"), "C": (1, "c")})[1] == ["B"]


def test_forgotten_statuses_are_read_again() -> None:
    cache = StatusCache()
    cache.remember({"A": (1, "a"), "B": (1, "b")}, {"A": status("A"), "B": status("B")})
    cache.forget(["A", "unknown"])
    assert cache.lookup({"A": (1, "a"), "B": (1, "b")}) == ({"B": status("B")}, ["A"])


def test_a_cache_holds_at_least_one_status() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StatusCache(capacity=0)
