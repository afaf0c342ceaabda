"""Webhooks in Postgres: registrations, application → integrator, the backlog of events
whose application is not known yet, and webhook rows of the delivery ledger with their
retry schedule (notify.deliveries, channel 'webhook', recipient_hash = integrator id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from onceonly.notify.batching import Coalescer, first, itself
from onceonly.notify.store import competent_region_of


class Queued(NamedTuple):
    """A webhook delivery to queue: the columns of _ENQUEUE, in its order."""

    give_up_after: timedelta
    event_id: str
    integrator_id: str
    application_code: str
    event_type: str
    payload: str


@dataclass(frozen=True, slots=True)
class Registration:
    integrator_id: str
    url: str
    key_id: str
    secret_sealed: str


# A new webhook delivery for an integrator that has a registration; nothing otherwise.
# (Channel 'webhook', recipient = the integrator: an organisation, not personal data.)
_ENQUEUE = """
    INSERT INTO notify.deliveries (event_id, channel, recipient_hash, application_code,
        cause_event_type, recipient_masked, template, language, payload, next_attempt_at,
        give_up_at)
    SELECT e.event_id, 'webhook', w.integrator_id, e.application_code, e.event_type,
           w.integrator_id, 'webhook', '', e.payload, now(), now() + e.give_up_after
    FROM unnest($1::interval[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS e(give_up_after, event_id, integrator_id, application_code, event_type, payload)
    JOIN notify.integrator_webhooks w ON w.integrator_id = e.integrator_id
    ON CONFLICT (event_id, channel, recipient_hash) DO NOTHING
"""

# The same for backlog events whose application is now known: the DELETE feeds the INSERT.
_RESOLVE = """
    WITH moved AS (
        DELETE FROM notify.webhook_backlog b USING notify.applications a
        WHERE a.application_code = b.application_code
        RETURNING b.event_id, a.integrator_id, b.application_code, b.event_type, b.payload)
    INSERT INTO notify.deliveries (event_id, channel, recipient_hash, application_code,
        cause_event_type, recipient_masked, template, language, payload, next_attempt_at,
        give_up_at)
    SELECT e.event_id, 'webhook', w.integrator_id, e.application_code, e.event_type,
           w.integrator_id, 'webhook', '', e.payload, now(), now() + $1::interval
    FROM moved e
    JOIN notify.integrator_webhooks w ON w.integrator_id = e.integrator_id
    ON CONFLICT (event_id, channel, recipient_hash) DO NOTHING
"""


class WebhookStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._integrators = Coalescer(self._integrators_of, key=itself)
        self._enqueue = Coalescer(self._enqueue_many, key=_queued_event)
        self._record = Coalescer(self._record_many, key=first)

    async def set_webhook(
        self, integrator_id: str, *, url: str, key_id: str, secret_sealed: str
    ) -> None:
        await self._pool.execute(
            """
            INSERT INTO notify.integrator_webhooks (integrator_id, url, key_id, secret_sealed)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (integrator_id) DO UPDATE
            SET url = EXCLUDED.url, key_id = EXCLUDED.key_id,
                secret_sealed = EXCLUDED.secret_sealed, updated_at = now()
            """,
            integrator_id,
            url,
            key_id,
            secret_sealed,
        )

    async def delete_webhook(self, integrator_id: str) -> bool:
        """Forget an integrator's webhook; False when it had none. Its pending deliveries
        fail on their next attempt ("integrator has no webhook")."""
        status = await self._pool.execute(
            "DELETE FROM notify.integrator_webhooks WHERE integrator_id = $1", integrator_id
        )
        return status != "DELETE 0"

    async def registration(self, integrator_id: str) -> Registration | None:
        row = await self._pool.fetchrow(
            "SELECT integrator_id, url, key_id, secret_sealed FROM notify.integrator_webhooks"
            " WHERE integrator_id = $1",
            integrator_id,
        )
        return Registration(**dict(row)) if row is not None else None

    async def record_application(self, application_code: str, integrator_id: str) -> None:
        """Which integrator submitted the application (the first word stays); the
        submissions handled at once share one statement (batching.py)."""
        await self._record((application_code, integrator_id))

    async def _record_many(self, items: Sequence[tuple[str, str]]) -> list[None]:
        await self._pool.execute(
            "INSERT INTO notify.applications (application_code, integrator_id)"
            " SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT (application_code) DO NOTHING",
            [code for code, _ in items],
            [integrator for _, integrator in items],
        )
        return [None] * len(items)

    async def integrator_of(self, application_code: str) -> str | None:
        """The application's integrator, if its submission named one and has come; the
        lookups of the messages handled at once share one statement (batching.py)."""
        return await self._integrators(application_code)

    async def _integrators_of(self, codes: Sequence[str]) -> list[str | None]:
        rows = await self._pool.fetch(
            "SELECT application_code, integrator_id FROM notify.applications"
            " WHERE application_code = ANY($1::text[])",
            list(codes),
        )
        found = {row["application_code"]: str(row["integrator_id"]) for row in rows}
        return [found.get(code) for code in codes]

    async def enqueue(
        self,
        *,
        event_id: str,
        integrator_id: str,
        application_code: str,
        event_type: str,
        payload: str,
        give_up_after: timedelta,
    ) -> None:
        """A delivery of the event to the integrator's webhook, if it has one; the events
        handled at once are queued by one statement (batching.py)."""
        await self._enqueue(
            Queued(give_up_after, event_id, integrator_id, application_code, event_type, payload)
        )

    async def _enqueue_many(self, queued: Sequence[Queued]) -> list[None]:
        await self._pool.execute(_ENQUEUE, *(list(column) for column in zip(*queued, strict=True)))
        return [None] * len(queued)

    async def defer(
        self, *, event_id: str, application_code: str, event_type: str, payload: str
    ) -> None:
        """Keep an event whose application is not known yet."""
        await self._pool.execute(
            """
            INSERT INTO notify.webhook_backlog (event_id, application_code, event_type, payload)
            VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING
            """,
            event_id,
            application_code,
            event_type,
            payload,
        )

    async def resolve_backlog(self, *, give_up_after: timedelta) -> tuple[int, int]:
        """Turn backlog events of now-known applications into deliveries, in one statement
        (so a crash leaves each either in the backlog or delivered); drop those whose
        application stayed unknown for the whole retry window. Returns (moved, dropped)."""
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(_RESOLVE, give_up_after)
            moved = int(status.rsplit(" ", 1)[-1])
            dropped_status = await conn.execute(
                "DELETE FROM notify.webhook_backlog WHERE created_at < now() - $1::interval",
                give_up_after,
            )
        return moved, int(dropped_status.rsplit(" ", 1)[-1])

    async def claim_due(self, *, limit: int, lease: timedelta) -> list[dict[str, Any]]:
        """Due pending deliveries, each counted as an attempt and pushed `lease` into the
        future, so a crashed sender's delivery is retried after the lease, and two
        notify processes never take the same one at once."""
        rows = await self._pool.fetch(
            """
            UPDATE notify.deliveries d
            SET attempts = d.attempts + 1, sending_since = now(),
                next_attempt_at = now() + $2::interval
            WHERE d.id IN (
                SELECT id FROM notify.deliveries
                WHERE channel = 'webhook' AND status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
            RETURNING d.id, d.event_id, d.recipient_hash AS integrator_id, d.application_code,
                d.cause_event_type, d.status, d.attempts, d.payload, d.next_attempt_at,
                d.give_up_at, d.http_status, d.last_error, d.replays, d.created_at,
                d.completed_at
            """,
            limit,
            lease,
        )
        return [dict(row) for row in rows]

    async def mark_delivered(self, delivery_id: Any, *, http_status: int) -> None:
        await self._pool.execute(
            """
            UPDATE notify.deliveries
            SET status = 'sent', provider = 'webhook', http_status = $2, last_error = NULL,
                sending_since = NULL, next_attempt_at = NULL, completed_at = now()
            WHERE id = $1 AND status = 'pending'
            """,
            delivery_id,
            http_status,
        )

    async def reschedule(
        self, delivery_id: Any, *, at: datetime, error: str, http_status: int | None
    ) -> None:
        await self._pool.execute(
            """
            UPDATE notify.deliveries
            SET next_attempt_at = $2, last_error = $3, http_status = $4, sending_since = NULL
            WHERE id = $1 AND status = 'pending'
            """,
            delivery_id,
            at,
            error,
            http_status,
        )

    async def mark_failed(self, delivery_id: Any, *, error: str, http_status: int | None) -> None:
        await self._pool.execute(
            """
            UPDATE notify.deliveries
            SET status = 'failed', provider = 'webhook', last_error = $2, http_status = $3,
                sending_since = NULL, next_attempt_at = NULL, completed_at = now()
            WHERE id = $1 AND status = 'pending'
            """,
            delivery_id,
            error,
            http_status,
        )

    async def unpublished(self, *, limit: int) -> list[dict[str, Any]]:
        """Settled webhook deliveries whose NotificationSent has not gone out yet."""
        rows = await self._pool.fetch(
            """
            SELECT event_id, recipient_hash AS integrator_id, application_code,
                cause_event_type, status, http_status, completed_at
            FROM notify.deliveries
            WHERE channel = 'webhook' AND status IN ('sent', 'failed')
              AND outcome_published_at IS NULL
            ORDER BY completed_at
            LIMIT $1
            """,
            limit,
        )
        return [dict(row) for row in rows]

    async def mark_published(self, event_id: str, integrator_id: str) -> None:
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET outcome_published_at = now()
            WHERE event_id = $1 AND channel = 'webhook' AND recipient_hash = $2
            """,
            event_id,
            integrator_id,
        )

    async def for_application(self, application_code: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """
            SELECT id, event_id, recipient_hash AS integrator_id, application_code,
                cause_event_type, status, attempts, payload, next_attempt_at, give_up_at,
                http_status, last_error, replays, created_at, completed_at
            FROM notify.deliveries
            WHERE channel = 'webhook' AND application_code = $1
            ORDER BY created_at, event_id
            """,
            application_code,
        )
        return [dict(row) for row in rows]

    async def for_integrator(
        self,
        integrator_id: str,
        *,
        application_code: str | None = None,
        status: str | None = None,
        before: datetime | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """An integrator's own webhook deliveries, newest first (`before` pages back)."""
        rows = await self._pool.fetch(
            """
            SELECT id, event_id, recipient_hash AS integrator_id, application_code,
                cause_event_type, status, attempts, payload, next_attempt_at, give_up_at,
                http_status, last_error, replays, created_at, completed_at
            FROM notify.deliveries
            WHERE channel = 'webhook' AND recipient_hash = $1
              AND ($2::text IS NULL OR application_code = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR created_at < $4)
            ORDER BY created_at DESC, event_id
            LIMIT $5
            """,
            integrator_id,
            application_code,
            status,
            before,
            limit,
        )
        return [dict(row) for row in rows]

    async def replay(
        self,
        delivery_id: Any,
        *,
        give_up_after: timedelta,
        integrator_id: str | None = None,
        region_prefix: str | None = None,
    ) -> dict[str, Any] | None:
        """Send a delivery again, whatever its status, with a fresh retry window; with
        `integrator_id`, only one of that integrator's; with `region_prefix`, only one
        of an application decided in that division (行政区划). (The one way a ledger row goes
        back to pending: an operator or the integrator asked for it.)"""
        region = competent_region_of("notify.deliveries.application_code")
        row = await self._pool.fetchrow(
            f"""
            UPDATE notify.deliveries
            SET status = 'pending', next_attempt_at = now(), give_up_at = now() + $2::interval,
                replays = replays + 1, completed_at = NULL, sending_since = NULL
            WHERE id = $1 AND channel = 'webhook'
              AND ($3::text IS NULL OR recipient_hash = $3)
              AND ($4::text IS NULL OR starts_with({region}, $4))
            RETURNING id, event_id, recipient_hash AS integrator_id, application_code,
                cause_event_type, status, attempts, payload, next_attempt_at, give_up_at,
                http_status, last_error, replays, created_at, completed_at
            """,  # noqa: S608 - constant SQL
            delivery_id,
            give_up_after,
            integrator_id,
            region_prefix,
        )
        return dict(row) if row is not None else None


def _queued_event(queued: Queued) -> str:
    return queued.event_id
