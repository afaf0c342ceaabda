"""Two replicas' limiters over one bucket in the real Postgres: together they allow the
burst and no more, a refused take says how long to wait, the bucket refills with time,
and without the database the limiter refuses."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from onceonly.platform.shared_limits import SharedRateLimiter, grant
from onceonly.platform.testing import eventually, unique_prefix

pytestmark = pytest.mark.integration


def replica(pool: asyncpg.Pool, scope: str, **options: float) -> SharedRateLimiter:
    return SharedRateLimiter(
        lambda: pool, scope=scope, rate_per_second=options.get("rate", 0.5), burst=6, lease=2
    )


async def test_replicas_share_one_budget(pool: asyncpg.Pool) -> None:
    scope = unique_prefix("limits")
    one, two = replica(pool, scope), replica(pool, scope)
    allowed = 0
    for limiter in (one, two, one, two, one, two, one, two):
        if await limiter.take("integrator-7") is None:
            allowed += 1
    # Six tokens between them (each replica leasing two at a time), not six each.
    assert allowed == 6
    wait = await two.take("integrator-7")
    assert wait is not None and 0 < wait <= 2.0
    # Another key has its own bucket.
    assert await one.take("integrator-8") is None


async def test_the_bucket_refills_with_time(pool: asyncpg.Pool) -> None:
    scope = unique_prefix("limits")
    fast = replica(pool, scope, rate=20.0)
    while await fast.take("k") is None:
        pass
    # 20 tokens a second: one is back within moments.
    await eventually(lambda: fast.take("k"), lambda wait: wait is None, within=5.0)


async def test_without_the_database_it_refuses() -> None:
    limiter = SharedRateLimiter(lambda: None, scope="nowhere", rate_per_second=1.0, burst=5)
    assert await limiter.take("k") == 1.0


async def test_concurrent_requests_share_a_lease_instead_of_draining_the_bucket(
    pool: asyncpg.Pool,
) -> None:
    limiter = SharedRateLimiter(
        lambda: pool, scope=unique_prefix("limits"), rate_per_second=0.1, burst=40
    )
    answers = await asyncio.gather(*(limiter.take("integrator-9") for _ in range(30)))
    assert answers == [None] * 30  # thirty within a burst of forty: all allowed
    answers = await asyncio.gather(*(limiter.take("integrator-9") for _ in range(20)))
    assert answers.count(None) == 10  # and then the last ten of the forty, no more


async def test_pruning_forgets_untouched_buckets_and_allows_the_request(
    pool: asyncpg.Pool,
) -> None:
    scope = unique_prefix("limits")
    await pool.execute(
        "INSERT INTO platform.rate_buckets (scope, key, tokens, updated_at)"
        " VALUES ($1, 'stale', 1, now() - interval '2 hours')",
        scope,
    )
    limiter = SharedRateLimiter(
        lambda: pool, scope=scope, rate_per_second=1.0, burst=4, lease=1, prune_every=1
    )
    # The lease that prunes is allowed like any other (a bench run met a 429 there).
    assert await limiter.take("fresh") is None
    keys = await pool.fetch("SELECT key FROM platform.rate_buckets WHERE scope = $1", scope)
    assert [r["key"] for r in keys] == ["fresh"]


@pytest.mark.parametrize("tokens", [0.0, 0.4, 1.0, 1.7, 2.0, 3.9, 5.0, 6.0])
async def test_the_lease_statement_grants_as_grant_says(pool: asyncpg.Pool, tokens: float) -> None:
    scope = unique_prefix("limits")
    await pool.execute(
        "INSERT INTO platform.rate_buckets (scope, key, tokens, updated_at)"
        " VALUES ($1, 'k', $2, clock_timestamp())",
        scope,
        tokens,
    )
    # A refill too slow to add a whole token while the test runs.
    limiter = SharedRateLimiter(lambda: pool, scope=scope, rate_per_second=1e-6, burst=6, lease=3)
    refused = await limiter.take("k")
    granted = grant(tokens, lease=3)
    assert (refused is None) == (granted > 0)
    left = await pool.fetchval(
        "SELECT tokens FROM platform.rate_buckets WHERE scope = $1 AND key = 'k'", scope
    )
    assert left == pytest.approx(tokens - granted, abs=1e-3)


async def test_replicas_leasing_at_once_never_overdraw(pool: asyncpg.Pool) -> None:
    scope = unique_prefix("limits")
    replicas = [
        SharedRateLimiter(lambda: pool, scope=scope, rate_per_second=1e-6, burst=30, lease=4)
        for _ in range(6)
    ]
    answers = await asyncio.gather(
        *(limiter.take("busy") for limiter in replicas for _ in range(20))
    )
    allowed = answers.count(None)
    # Every token granted once: none spent twice, at most a lease's worth left unspent
    # in each replica whose requests were all allowed.
    assert 30 - 6 * 3 <= allowed <= 30
    left = await pool.fetchval(
        "SELECT tokens FROM platform.rate_buckets WHERE scope = $1 AND key = 'busy'", scope
    )
    assert 0 <= left < 1
