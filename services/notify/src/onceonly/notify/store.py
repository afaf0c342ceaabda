"""The delivery ledger in Postgres (notify.deliveries) and the queries of the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from onceonly.notify.ledger import DeliveryState, DeliveryStatus, LedgerKey


@dataclass(frozen=True, slots=True)
class Delivery:
    key: LedgerKey
    application_code: str
    cause_event_type: str
    recipient_masked: str
    status: DeliveryStatus
    template: str
    language: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    segments: int | None
    last_error: str | None
    sending_since: datetime | None
    created_at: datetime
    completed_at: datetime | None
    outcome_published_at: datetime | None

    @property
    def state(self) -> DeliveryState:
        return DeliveryState(
            status=self.status,
            in_doubt=self.sending_since is not None,
            outcome_published=self.outcome_published_at is not None,
        )


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        key=LedgerKey(row["event_id"], row["channel"], row["recipient_hash"]),
        application_code=row["application_code"],
        cause_event_type=row["cause_event_type"],
        recipient_masked=row["recipient_masked"],
        status=DeliveryStatus(row["status"]),
        template=row["template"],
        language=row["language"],
        attempts=row["attempts"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        segments=row["segments"],
        last_error=row["last_error"],
        sending_since=row["sending_since"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        outcome_published_at=row["outcome_published_at"],
    )


def _args(key: LedgerKey) -> tuple[str, str, str]:
    return key.event_id, key.channel, key.recipient_hash


class DeliveryLedger:
    """Ledger rows move pending → sent | failed | possibly_sent, never back."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(
        self,
        key: LedgerKey,
        *,
        application_code: str,
        cause_event_type: str,
        recipient_masked: str,
        template: str,
        language: str,
    ) -> Delivery:
        """The delivery's row: inserted as pending, or the one an earlier delivery wrote."""
        row = await self._pool.fetchrow(
            """
            INSERT INTO notify.deliveries (event_id, channel, recipient_hash, application_code,
                cause_event_type, recipient_masked, template, language)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (event_id, channel, recipient_hash) DO NOTHING
            RETURNING *
            """,
            *_args(key),
            application_code,
            cause_event_type,
            recipient_masked,
            template,
            language,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def get(self, key: LedgerKey) -> Delivery:
        row = await self._pool.fetchrow(
            "SELECT * FROM notify.deliveries"
            " WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3",
            *_args(key),
        )
        assert row is not None  # callers only ask for rows they opened; none is deleted
        return _delivery(row)

    async def begin_send(self, key: LedgerKey) -> None:
        """From here until a result is recorded, the send is in doubt."""
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET sending_since = now(), attempts = attempts + 1
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            """,
            *_args(key),
        )

    async def mark_sent(
        self, key: LedgerKey, *, provider: str, provider_message_id: str, segments: int
    ) -> Delivery:
        # Also from possibly_sent: a late confirmation settles the doubt.
        row = await self._pool.fetchrow(
            """
            UPDATE notify.deliveries
            SET status = 'sent', provider = $4, provider_message_id = $5, segments = $6,
                sending_since = NULL, last_error = NULL, completed_at = now()
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3
              AND status IN ('pending', 'possibly_sent')
            RETURNING *
            """,
            *_args(key),
            provider,
            provider_message_id,
            segments,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def mark_failed(self, key: LedgerKey, *, provider: str, error: str) -> Delivery:
        row = await self._pool.fetchrow(
            """
            UPDATE notify.deliveries
            SET status = 'failed', provider = $4, last_error = $5, sending_since = NULL,
                completed_at = now()
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            RETURNING *
            """,
            *_args(key),
            provider,
            error,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def mark_possibly_sent(self, key: LedgerKey, *, provider: str) -> Delivery:
        row = await self._pool.fetchrow(
            """
            UPDATE notify.deliveries
            SET status = 'possibly_sent', provider = $4, completed_at = now()
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            RETURNING *
            """,
            *_args(key),
            provider,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def release(self, key: LedgerKey, *, error: str) -> None:
        """The provider is sure nothing went out: the next attempt may send freely."""
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET sending_since = NULL, last_error = $4
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            """,
            *_args(key),
            error,
        )

    async def mark_published(self, key: LedgerKey) -> None:
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET outcome_published_at = now()
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3
            """,
            *_args(key),
        )

    async def for_application(self, application_code: str) -> list[dict[str, Any]]:
        """Deliveries of an application with the local provider's copy of each message."""
        rows = await self._pool.fetch(
            """
            SELECT d.event_id, d.channel, d.cause_event_type, d.recipient_masked, d.status,
                   d.template, d.language, d.attempts, d.provider, d.provider_message_id,
                   d.segments, d.last_error, d.created_at, d.completed_at,
                   m.body
            FROM notify.deliveries d
            LEFT JOIN notify.local_messages m
                   ON d.provider = 'local' AND m.id::text = d.provider_message_id
            WHERE d.application_code = $1
            ORDER BY d.created_at, d.event_id, d.channel
            """,
            application_code,
        )
        return [dict(row) for row in rows]
