"""Providers: the adapters that actually deliver a message, behind one interface.

The local provider (the default) keeps messages in `notify.local_messages` and logs
them with the recipient masked, so the demo can show what a citizen would receive. The
generic HTTP SMS gateway is in http_sms.py (ONCEONLY_NOTIFY_PROVIDER=http); integrator
webhooks have their own sender (webhook_delivery.py); app push is still to come.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import asyncpg
import structlog

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
    """Writes messages to notify.local_messages and the log: the development default."""

    name = "local"
    idempotent = True

    def __init__(self, pool: asyncpg.Pool, sealer: PiiSealer) -> None:
        self._pool = pool
        self._sealer = sealer

    async def send(self, message: OutboundMessage) -> SendResult:
        segments = segment_count(message.body)
        row = await self._pool.fetchrow(
            """
            INSERT INTO notify.local_messages (id, idempotency_key, application_code, channel,
                recipient_masked, recipient_sealed, body, segments)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, segments, created_at
            """,
            uuid.uuid4(),
            message.idempotency_key,
            message.application_code,
            message.channel,
            message.recipient_masked,
            self._sealer.seal(message.recipient, context=f"{message.application_code}:mobile"),
            message.body,
            segments,
        )
        duplicate = row is None
        if row is None:
            row = await self._pool.fetchrow(
                "SELECT id, segments, created_at FROM notify.local_messages"
                " WHERE idempotency_key = $1",
                message.idempotency_key,
            )
            assert row is not None  # the conflicting row exists; rows are never deleted
        else:
            log.info(
                "message delivered (local provider)",
                application_code=message.application_code,
                channel=message.channel,
                to=message.recipient_masked,
                segments=segments,
                body=message.body,
            )
        return SendResult(
            provider=self.name,
            provider_message_id=str(row["id"]),
            segments=row["segments"],
            sent_at=row["created_at"],
            duplicate=duplicate,
        )
