"""Token buckets per client (an integrator, an IP address), in process.

Each API process limits on its own: with N processes a client gets up to N times the
rate. That bounds abuse and overload, which is the purpose; an exact global quota would
need shared state (Redis, Postgres) on every request.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`take(key)` spends one token of the key's bucket: None when allowed, else the
    seconds until a token is back (for Retry-After)."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_second > 0, burst >= 1 and max_keys >= 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        # Least recently used first: memory stays bounded however many clients come.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float | None:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                # A forgotten client starts again with a full bucket: the cost of a bound.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up and at least 1 (Retry-After takes no fractions)."""
    return str(max(1, math.ceil(seconds)))
