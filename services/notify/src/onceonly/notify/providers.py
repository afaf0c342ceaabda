"""Providers: the adapters that actually deliver a message, behind one interface.

The local provider (the default) keeps messages in `notify.local_messages` and logs
them with the recipient masked, so the demo can show what a citizen would receive. The
generic HTTP SMS gateway is in http_sms.py (ONCEONLY_NOTIFY_PROVIDER=http); integrator
webhooks have their own sender (webhook_delivery.py); app push is still to come.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

from onceonly.notify.batching import Coalescer
from onceonly.notify.sms import segment_count
from onceonly.platform.pii import PiiSealer

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to one recipient on one channel."""

    # The ledger key: a provider that supports it must deliver at most once per key.
    idempotency_key: str
    application_code: str
    channel: str
    # The real address; kept out of repr so it never reaches a log by accident.
    recipient: str = field(repr=False)
    recipient_masked: str
    body: str


@dataclass(frozen=True, slots=True)
class SendResult:
    provider: str
    provider_message_id: str
    segments: int
    sent_at: datetime
    # The provider already had this idempotency key: nothing new went out.
    duplicate: bool = False


class Provider(Protocol):
    """Delivers messages on one or more channels.

    `send` returns once the provider has taken the message. It raises
    TemporaryProviderError for what may succeed later (with `not_sent=True` when the
    provider is sure nothing went out) and PermanentProviderError for what never will
    (an invalid number). `idempotent` is True when a repeated `send` with the same
    idempotency key cannot deliver twice: only then does notify repeat a send whose
    outcome is in doubt.
    """

    name: str
    idempotent: bool

    async def send(self, message: OutboundMessage) -> SendResult: ...


class LocalProvider:
    """Writes messages to notify.local_messages and the log: the development default.

    The messages handled at once are written by one statement (batching.py)."""

    name = "local"
    idempotent = True

    def __init__(self, pool: asyncpg.Pool, sealer: PiiSealer) -> None:
        self._pool = pool
        self._sealer = sealer
        self._write = Coalescer(self._write_many, key=_idempotency_key)

    async def send(self, message: OutboundMessage) -> SendResult:
        return await self._write(message)

    async def _write_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        segments = [segment_count(m.body) for m in messages]
        rows = await self._pool.fetch(
            """
            INSERT INTO notify.local_messages (id, idempotency_key, application_code, channel,
                recipient_masked, recipient_sealed, body, segments)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::text[], $7::text[], $8::int[])
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING idempotency_key, id, segments, created_at
            """,
            [uuid.uuid4() for _ in messages],
            [m.idempotency_key for m in messages],
            [m.application_code for m in messages],
            [m.channel for m in messages],
            [m.recipient_masked for m in messages],
            [
                self._sealer.seal(m.recipient, context=f"{m.application_code}:mobile")
                for m in messages
            ],
            [m.body for m in messages],
            segments,
        )
        new = {row["idempotency_key"]: row for row in rows}
        missing = [m.idempotency_key for m in messages if m.idempotency_key not in new]
        earlier = {}
        if missing:
            earlier = {
                row["idempotency_key"]: row
                for row in await self._pool.fetch(
                    "SELECT idempotency_key, id, segments, created_at FROM notify.local_messages"
                    " WHERE idempotency_key = ANY($1::text[])",
                    missing,
                )
            }
        results = []
        for message, count in zip(messages, segments, strict=True):
            row = new.get(message.idempotency_key)
            duplicate = row is None
            if row is None:
                row = earlier[message.idempotency_key]  # rows are never deleted
            else:
                log.info(
                    "message delivered (local provider)",
                    application_code=message.application_code,
                    channel=message.channel,
                    to=message.recipient_masked,
                    segments=count,
                    body=message.body,
                )
            results.append(
                SendResult(
                    provider=self.name,
                    provider_message_id=str(row["id"]),
                    segments=row["segments"],
                    sent_at=row["created_at"],
                    duplicate=duplicate,
                )
            )
        return results


def _idempotency_key(message: OutboundMessage) -> str:
    return message.idempotency_key
