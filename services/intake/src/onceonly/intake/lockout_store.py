"""The progress lookup's failure counts in Postgres (rules in `lockout.py`): one row per
application code that had wrong answers, one per deployment and minute for the global
budget. Postgres's clock is the one clock, whichever replica answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from onceonly.intake.lockout import FailureState, LockoutRule, after_failure

# Expired rows deleted per recorded failure: the table stays as large as what matters.
_FORGET_PER_FAILURE = 20
# Minutes of the global budget kept (for a look during an incident), then deleted.
_MINUTES_KEPT = 60


@dataclass(frozen=True, slots=True)
class Guard:
    """What a lookup must know first: the database's now, whether the code is locked,
    and the failures of this minute across the deployment."""

    now: datetime
    locked: bool
    failures_this_minute: int


class LockoutStore:
    def __init__(self, pool: asyncpg.Pool, *, scope: str, rule: LockoutRule) -> None:
        self._pool = pool
        self._scope = scope
        self._rule = rule

    async def guard(self, code: str) -> Guard:
        """The code's lock and the minute's failures, in one round trip."""
        row = await self._pool.fetchrow(
            """
            SELECT now() AS now,
                   coalesce((SELECT failures FROM intake.progress_failure_minutes
                             WHERE scope = $2 AND minute = date_trunc('minute', now())), 0)
                       AS failures,
                   coalesce((SELECT locked_until > now() FROM intake.progress_failures
                             WHERE application_code = $1), false) AS locked
            """,
            code,
            self._scope,
        )
        assert row is not None  # a SELECT without FROM returns one row
        return Guard(row["now"], row["locked"], row["failures"])

    async def record_failure(self, code: str) -> None:
        """Count one wrong answer for `code` (locking it at the limit) and for the minute."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                # Inserted, or the existing row locked (the no-op update): the row lock
                # serialises replicas counting the same code.
                row = await conn.fetchrow(
                    """
                    INSERT INTO intake.progress_failures
                        (application_code, failures, window_started, expires_at)
                    VALUES ($1, 0, now(), now())
                    ON CONFLICT (application_code)
                    DO UPDATE SET application_code = EXCLUDED.application_code
                    RETURNING now() AS now, failures, window_started, locked_until
                    """,
                    code,
                )
                assert row is not None  # INSERT .. RETURNING returns its row
                before = FailureState(row["failures"], row["window_started"], row["locked_until"])
                after = after_failure(before, now=row["now"], rule=self._rule)
                await conn.execute(
                    """
                    UPDATE intake.progress_failures
                    SET failures = $2, window_started = $3, locked_until = $4, expires_at = $5
                    WHERE application_code = $1
                    """,
                    code,
                    after.failures,
                    after.window_started,
                    after.locked_until,
                    after.expires(self._rule),
                )
            await conn.execute(
                """
                INSERT INTO intake.progress_failure_minutes (scope, minute, failures)
                VALUES ($1, date_trunc('minute', now()), 1)
                ON CONFLICT (scope, minute)
                DO UPDATE SET failures = progress_failure_minutes.failures + 1
                """,
                self._scope,
            )
            # Forget what no longer matters; SKIP LOCKED: never wait for another
            # replica's count (and never deadlock with it).
            await conn.execute(
                """
                DELETE FROM intake.progress_failures WHERE application_code IN (
                    SELECT application_code FROM intake.progress_failures
                    WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)
                """,
                _FORGET_PER_FAILURE,
            )
            await conn.execute(
                """
                DELETE FROM intake.progress_failure_minutes
                WHERE scope = $1 AND minute < now() - make_interval(mins => $2)
                """,
                self._scope,
                _MINUTES_KEPT,
            )
