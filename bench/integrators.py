"""API keys for the load: intake limits each integrator to a sustained rate (10/s by
default, per API process), so the load is spread over enough bench integrators that no
request is refused for the rate limit. The keys are revoked when the run ends."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.db import create_pool

NAME_PREFIX = "bench-load-"
# Requests/s that one integrator's key is given: under intake's default of 10/s.
PER_KEY_RATE = 8.0


@dataclass(frozen=True)
class BenchKeys:
    tokens: list[str]
    integrator_ids: list[str]

    def token(self, i: int) -> str:
        return self.tokens[i % len(self.tokens)]


def keys_needed(peak_rate: float) -> int:
    limit = IntakeSettings().integrator_post_rate_per_second
    per_key = min(PER_KEY_RATE, limit * 0.8)
    return max(1, math.ceil(peak_rate / per_key))


@asynccontextmanager
async def bench_keys(database_url: str, count: int) -> AsyncIterator[BenchKeys]:
    """`count` integrators named bench-load-NNN (created once, reused after), each with
    a fresh key for this run; the keys are revoked on exit. This is what
    `onceonly-intake integrator create NAME --reuse` does, without a process per key."""
    pool = await create_pool(database_url, max_size=4)
    store = IntegratorStore(pool)
    tokens: list[str] = []
    ids: list[str] = []
    key_ids: list[str] = []
    try:
        for i in range(count):
            integrator_id, key = await store.key_for(f"{NAME_PREFIX}{i:04d}")
            tokens.append(key.token)
            ids.append(integrator_id)
            key_ids.append(key.key_id)
        yield BenchKeys(tokens, ids)
    finally:
        for key_id in key_ids:
            await store.revoke_key(key_id)
        await pool.close()
