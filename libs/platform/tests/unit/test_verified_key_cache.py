"""The verified-key cache: a key verified a moment ago is not looked up again; a revoked
key is refused once its time is up (at once in the process that revoked it); wrong,
unknown and malformed keys are looked up every time and never remembered."""

from __future__ import annotations

import secrets

import pytest

from onceonly.platform.integrator_keys import InMemoryIntegratorKeys, VerifiedKeyCache


class CountingKeys(InMemoryIntegratorKeys):
    """The in-memory directory, counting its lookups."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def verify(self, token: str) -> str | None:
        self.lookups += 1
        return await super().verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_verified_key_is_looked_up_once_within_its_seconds() -> None:
    directory, clock = CountingKeys(), Clock()
    cache = VerifiedKeyCache(directory, seconds=5.0, clock=clock)
    key = await directory.issue("integrator-a")
    for _ in range(3):
        assert await cache.verify(key.token) == "integrator-a"
    assert directory.lookups == 1
    clock.now += 5.0
    assert await cache.verify(key.token) == "integrator-a"
    assert directory.lookups == 2


async def test_a_key_revoked_elsewhere_is_refused_once_its_seconds_are_up() -> None:
    directory, clock = CountingKeys(), Clock()
    cache = VerifiedKeyCache(directory, seconds=5.0, clock=clock)
    key = await directory.issue("integrator-a")
    assert await cache.verify(key.token) == "integrator-a"
    await directory.revoke(key.key_id)  # another process (the admin CLI)
    clock.now += 4.9
    assert await cache.verify(key.token) == "integrator-a"  # the price of the cache
    clock.now += 0.1
    assert await cache.verify(key.token) is None
    assert await cache.verify(key.token) is None  # and not remembered
    assert directory.lookups == 3


async def test_a_key_revoked_through_the_cache_is_refused_at_once() -> None:
    directory = CountingKeys()
    cache = VerifiedKeyCache(directory, seconds=5.0, clock=Clock())
    revoked, kept = await cache.issue("integrator-a"), await cache.issue("integrator-a")
    assert await cache.verify(revoked.token) == "integrator-a"
    assert await cache.verify(kept.token) == "integrator-a"
    assert await cache.revoke(revoked.key_id) is not None
    assert await cache.verify(revoked.token) is None
    assert await cache.verify(kept.token) == "integrator-a"
    assert [record.key_id for record in await cache.listed()] == [
        record.key_id for record in await directory.listed()
    ]


async def test_refused_keys_are_looked_up_every_time() -> None:
    directory = CountingKeys()
    cache = VerifiedKeyCache(directory, seconds=5.0, clock=Clock())
    key = await directory.issue("integrator-a")
    wrong_secret = f"oo_{key.key_id}_{secrets.token_urlsafe(32)}"
    unknown = f"oo_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    assert await cache.verify(key.token) == "integrator-a"
    for token in (wrong_secret, unknown, "not-a-key"):
        for _ in range(2):
            assert await cache.verify(token) is None
    assert directory.lookups == 7


async def test_at_most_max_keys_are_remembered_least_recently_used_first_out() -> None:
    directory = CountingKeys()
    cache = VerifiedKeyCache(directory, seconds=5.0, max_keys=2, clock=Clock())
    first, second, third = [await directory.issue(f"integrator-{i}") for i in range(3)]
    await cache.verify(first.token)
    await cache.verify(second.token)
    await cache.verify(first.token)  # used: second is now the oldest
    await cache.verify(third.token)
    assert directory.lookups == 3
    await cache.verify(first.token)
    assert directory.lookups == 3
    await cache.verify(second.token)
    assert directory.lookups == 4


def test_the_cache_needs_a_positive_time_and_size() -> None:
    with pytest.raises(ValueError):
        VerifiedKeyCache(InMemoryIntegratorKeys(), seconds=0)
    with pytest.raises(ValueError):
        VerifiedKeyCache(InMemoryIntegratorKeys(), seconds=1.0, max_keys=0)
