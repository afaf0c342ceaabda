"""Wakes the outbox relays once outbox rows have committed: a NOTIFY sent after the
rows' transactions, at most one per interval per API process, instead of one from
inside every transaction that writes a row.

Postgres serialises the commits of transactions that NOTIFY: each holds one
database-wide lock from just before its commit until after it (so that notifications
arrive in commit order), and so submissions that notified waited for one another's WAL
flush, one at a time. Sent from outside them, the submissions commit side by side
again (intake at 500/s with a relay listening: p99 126-143 ms with the notifying
trigger, 12-27 ms without it; docs/performance.md, 2026-12-06).
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from onceonly.intake.outbox import NOTIFY_CHANNEL

log = structlog.get_logger(__name__)

# A relay hears of a committed row this much later at most (and a row is never left for
# its poll unless the NOTIFY fails): at 500 submissions a second, one NOTIFY per ten.
WAKE_INTERVAL_SECONDS = 0.02

_TROUBLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class RelayWake:
    """`written()` after a transaction that wrote outbox rows has committed; `run()`
    sends a NOTIFY after each such commit, coalesced: one per `interval` at most."""

    def __init__(self, pool: asyncpg.Pool, *, interval: float = WAKE_INTERVAL_SECONDS) -> None:
        self._pool = pool
        self._interval = interval
        self._pending = asyncio.Event()
        self.sent = 0

    def written(self) -> None:
        self._pending.set()

    async def run(self) -> None:
        """Until cancelled. A row written while a NOTIFY is under way, or during the
        pause after it, gets the next one: each NOTIFY is sent after the commits it
        announces, so the relay it wakes finds their rows."""
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await self._pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
                self.sent += 1
            except _TROUBLE as exc:
                # The rows are committed; the relays' poll finds them.
                log.warning("relay not woken; its poll finds the rows", error=type(exc).__name__)
            await asyncio.sleep(self._interval)
