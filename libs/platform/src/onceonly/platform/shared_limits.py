"""Token buckets shared by every replica of an API: the bucket lives in Postgres
(`platform.rate_buckets`) and each replica leases a slice of it at a time, spending the
slice locally, so a client gets the configured rate however many replicas answer it
(give or take one unspent slice per replica), and a request costs a database round trip
only when its replica's slice is spent. A slice not spent within `lease_seconds` is
dropped, so tokens are never spent long after they were granted.

Used where the limit guards against outsiders who could spread their requests over the
replicas: integrators' POSTs, citizens' progress lookups, e-licence verifications.
Without the database the limiter refuses (fails closed).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import structlog

from onceonly.platform.db import DATABASE_TROUBLE

log = structlog.get_logger(__name__)

# A lease is one statement in the steady state, with no transaction around it: the row
# is locked, refilled for the time since it was last touched and charged the grant (the
# SQL form of `grant` below) in one UPDATE that returns both. As four round trips (BEGIN,
# refill, spend, COMMIT), each lease held a pool connection and the bucket's row lock
# across the API's event loop, and at 500 submissions/s over 250 keys the leases'
# transactions, idle in transaction, were what intake's slowest requests waited on.
_LEASE = """
    WITH locked AS (
        SELECT LEAST($3::float8, tokens
                     + EXTRACT(EPOCH FROM clock_timestamp() - updated_at) * $4::float8)
               AS refilled
        FROM platform.rate_buckets
        WHERE scope = $1 AND key = $2
        FOR UPDATE
    ), charged AS (
        SELECT refilled, GREATEST(0, LEAST($5::int, floor(refilled)::int)) AS granted
        FROM locked
    )
    UPDATE platform.rate_buckets AS b
       SET tokens = charged.refilled - charged.granted, updated_at = clock_timestamp()
      FROM charged
     WHERE b.scope = $1 AND b.key = $2
    RETURNING charged.granted, charged.refilled
"""
# A key's first lease (or its first after pruning) creates a full bucket, then leases.
_CREATE = """
    INSERT INTO platform.rate_buckets (scope, key, tokens, updated_at)
    VALUES ($1, $2, $3, clock_timestamp())
    ON CONFLICT (scope, key) DO NOTHING
"""
_PRUNE = "DELETE FROM platform.rate_buckets WHERE scope = $1 AND updated_at < now() - $2::interval"
# asyncpg encodes an interval parameter from a timedelta only: the string "1 hour" was a
# DataError, so every thousandth lease refused its request and nothing was ever pruned.
_UNTOUCHED = timedelta(hours=1)


def grant(tokens: float, *, lease: int) -> int:
    """How many whole tokens of a bucket holding `tokens` one lease takes (pure)."""
    return max(0, min(lease, math.floor(tokens)))


def wait_seconds(tokens: float, *, rate_per_second: float) -> float:
    """Until the bucket holds one whole token again (pure)."""
    return max(0.0, (1.0 - tokens) / rate_per_second)


@dataclass(slots=True)
class _Slice:
    tokens: int
    until: float


class SharedRateLimiter:
    """`await take(key)`: None when allowed, else the seconds until a token is back."""

    def __init__(
        self,
        pool: Callable[[], asyncpg.Pool | None],
        *,
        scope: str,
        rate_per_second: float,
        burst: int,
        lease: int | None = None,
        lease_seconds: float = 1.0,
        max_keys: int = 10_000,
        prune_every: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second > 0 and burst >= 1")
        self._pool = pool
        self._scope = scope
        self._rate = rate_per_second
        self._burst = float(burst)
        # A quarter of the burst: few round trips for a busy client, little held back.
        self._lease = lease or max(1, burst // 4)
        self._lease_seconds = lease_seconds
        self._max_keys = max_keys
        self._prune_every = prune_every
        self._clock = clock
        self._slices: OrderedDict[str, _Slice] = OrderedDict()
        self._pending: dict[str, asyncio.Future[float | None]] = {}
        self._leases = 0

    async def take(self, key: str) -> float | None:
        while True:
            held = self._slices.get(key)
            if held is not None and held.tokens > 0 and held.until > self._clock():
                held.tokens -= 1
                self._slices.move_to_end(key)
                return None
            pending = self._pending.get(key)
            if pending is not None:
                # One lease at a time per key in this process: concurrent requests share
                # it instead of each draining the bucket by a lease of its own.
                refused = await asyncio.shield(pending)
                if refused is not None:
                    return refused
                continue
            refused = await self._refill_slice(key)
            if refused is not None:
                return refused

    async def _refill_slice(self, key: str) -> float | None:
        """Lease a slice for `key`: None once the slice is in place, else the wait."""
        done: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = done
        refused: float | None = 1.0
        try:
            pool = self._pool()
            if pool is None:
                return refused
            try:
                granted, left = await self._lease_from(pool, key)
            except DATABASE_TROUBLE as exc:
                log.warning(
                    "rate limit not checked: refused", scope=self._scope, error=type(exc).__name__
                )
                return refused
            if granted == 0:
                refused = wait_seconds(left, rate_per_second=self._rate)
                return refused
            self._slices[key] = _Slice(granted, self._clock() + self._lease_seconds)
            self._slices.move_to_end(key)
            while len(self._slices) > self._max_keys:
                self._slices.popitem(last=False)
            refused = None
            return refused
        finally:
            del self._pending[key]
            done.set_result(refused)

    async def _lease_from(self, pool: asyncpg.Pool, key: str) -> tuple[int, float]:
        arguments = (self._scope, key, self._burst, self._rate, self._lease)
        async with pool.acquire() as conn:
            row = await conn.fetchrow(_LEASE, *arguments)
            if row is None:
                await conn.execute(_CREATE, self._scope, key, self._burst)
                row = await conn.fetchrow(_LEASE, *arguments)
                assert row is not None  # created above, pruned only after an hour untouched
            self._leases += 1
            if self._leases % self._prune_every == 0:
                # Untouched for an hour, a bucket is full again (every limit here refills
                # within minutes): forgetting it changes nothing.
                await conn.execute(_PRUNE, self._scope, _UNTOUCHED)
        granted = int(row["granted"])
        return granted, float(row["refilled"]) - granted
