"""The delivery ledger's hot statements, each for many deliveries at once (see
batching.py): the same rows and the same conditions as the one-row statements of
store.py, given as arrays and joined by the ledger key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from onceonly.notify.ledger import LedgerKey

KeyRow = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Opening:
    """A delivery's row as `DeliveryLedger.open` writes it."""

    key: LedgerKey
    application_code: str
    cause_event_type: str
    recipient_masked: str
    template: str
    language: str
    urgent: bool
    # Set when nothing can defer the send: a new row is written as being sent from then
    # (one statement for open and begin); a row found already is left as it is.
    sending_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendStart:
    """A send starting now (nothing deferred it): in doubt from here until its result."""

    key: LedgerKey
    now: datetime
    lease_until: datetime | None


@dataclass(frozen=True, slots=True)
class Sent:
    """A provider's acceptance of a delivery, as `DeliveryLedger.mark_sent` records it."""

    key: LedgerKey
    provider: str
    provider_message_id: str
    segments: int
    at: datetime | None


def _key(row: asyncpg.Record) -> LedgerKey:
    return LedgerKey(row["event_id"], row["channel"], row["recipient_hash"])


def _key_columns(keys: Sequence[LedgerKey]) -> tuple[list[str], list[str], list[str]]:
    return (
        [k.event_id for k in keys],
        [k.channel for k in keys],
        [k.recipient_hash for k in keys],
    )


_OPEN = """
    INSERT INTO notify.deliveries (event_id, channel, recipient_hash, application_code,
        cause_event_type, recipient_masked, template, language, urgent, sending_since,
        attempts)
    SELECT *, CASE WHEN n.sending_since IS NULL THEN 0 ELSE 1 END
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::bool[], $10::timestamptz[])
        AS n(event_id, channel, recipient_hash, application_code, cause_event_type,
             recipient_masked, template, language, urgent, sending_since)
    ON CONFLICT (event_id, channel, recipient_hash) DO NOTHING
    RETURNING *
"""

_GET = """
    SELECT d.* FROM notify.deliveries d
    JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(event_id, channel, recipient_hash)
      ON d.event_id = k.event_id AND d.channel = k.channel
     AND d.recipient_hash = k.recipient_hash
"""

# As store._begin_or_defer when nothing defers the delivery.
_BEGIN = """
    UPDATE notify.deliveries d
    SET sending_since = k.now, attempts = d.attempts + 1, next_attempt_at = k.lease_until,
        deferred_reason = NULL
    FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
        AS k(event_id, channel, recipient_hash, now, lease_until)
    WHERE d.event_id = k.event_id AND d.channel = k.channel
      AND d.recipient_hash = k.recipient_hash AND d.status = 'pending'
"""

# As DeliveryLedger.mark_sent (also from possibly_sent: a late confirmation settles it).
_MARK_SENT = """
    UPDATE notify.deliveries d
    SET status = 'sent', provider = k.provider, provider_message_id = k.message_id,
        segments = k.segments, sending_since = NULL, last_error = NULL,
        completed_at = coalesce(k.at, now()),
        next_attempt_at = NULL, deferred_reason = NULL, recipient_sealed = NULL
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
        $7::timestamptz[]) AS k(event_id, channel, recipient_hash, provider, message_id,
        segments, at)
    WHERE d.event_id = k.event_id AND d.channel = k.channel
      AND d.recipient_hash = k.recipient_hash AND d.status IN ('pending', 'possibly_sent')
    RETURNING d.*
"""

_MARK_PUBLISHED = """
    UPDATE notify.deliveries d SET outcome_published_at = now()
    FROM unnest($1::text[], $2::text[], $3::text[]) AS k(event_id, channel, recipient_hash)
    WHERE d.event_id = k.event_id AND d.channel = k.channel
      AND d.recipient_hash = k.recipient_hash
"""


async def _by_key(
    pool: asyncpg.Pool, rows: list[asyncpg.Record], keys: Sequence[LedgerKey]
) -> list[asyncpg.Record]:
    """`rows` in the order of `keys`; the rows a statement did not return (a conflict, a
    row no longer in the state it changes) read as they are."""
    found = {_key(row): row for row in rows}
    missing = [key for key in keys if key not in found]
    if missing:
        for row in await pool.fetch(_GET, *_key_columns(missing)):
            found[_key(row)] = row
    return [found[key] for key in keys]  # none is deleted: every key has its row


async def open_many(
    pool: asyncpg.Pool, openings: Sequence[Opening]
) -> list[tuple[asyncpg.Record, bool]]:
    """Each delivery's row and whether this opening wrote it: inserted as pending (being
    sent, with `sending_since`), or the one an earlier delivery wrote."""
    rows = await pool.fetch(
        _OPEN,
        *_key_columns([o.key for o in openings]),
        [o.application_code for o in openings],
        [o.cause_event_type for o in openings],
        [o.recipient_masked for o in openings],
        [o.template for o in openings],
        [o.language for o in openings],
        [o.urgent for o in openings],
        [o.sending_since for o in openings],
    )
    inserted = {_key(row) for row in rows}
    found = await _by_key(pool, rows, [o.key for o in openings])
    return [(row, _key(row) in inserted) for row in found]


async def begin_many(pool: asyncpg.Pool, starts: Sequence[SendStart]) -> list[None]:
    await pool.execute(
        _BEGIN,
        *_key_columns([s.key for s in starts]),
        [s.now for s in starts],
        [s.lease_until for s in starts],
    )
    return [None] * len(starts)


async def mark_sent_many(pool: asyncpg.Pool, sent: Sequence[Sent]) -> list[asyncpg.Record]:
    rows = await pool.fetch(
        _MARK_SENT,
        *_key_columns([s.key for s in sent]),
        [s.provider for s in sent],
        [s.provider_message_id for s in sent],
        [s.segments for s in sent],
        [s.at for s in sent],
    )
    return await _by_key(pool, rows, [s.key for s in sent])


async def mark_published_many(pool: asyncpg.Pool, keys: Sequence[LedgerKey]) -> list[None]:
    await pool.execute(_MARK_PUBLISHED, *_key_columns(keys))
    return [None] * len(keys)
