"""The transactional outbox: rows written with the business data, read by the relay."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from onceonly.platform.envelope import Envelope

NOTIFY_CHANNEL = "intake_outbox"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One event to publish: the envelope as it goes to Kafka, and its topic. The row
    keeps the envelope's attributes in columns of their own, read back as an envelope."""

    topic: str
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class PendingRow:
    id: int
    record: OutboxRecord


# The columns `insert_arguments` fills, in its order.
COLUMNS = """
    event_id, topic, message_key, ce_type, ce_source, ce_time, traceparent, tracestate,
    payload
"""
_INSERT = f"INSERT INTO intake.outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"  # noqa: S608 - constants
# The same insert with its parameters numbered from $18: the main statement after the
# application's insert (17 parameters) in a WITH, one statement for both (store.py).
INSERT_FROM_18 = f"""
    INSERT INTO intake.outbox ({COLUMNS})
    VALUES ($18, $19, $20, $21, $22, $23, $24, $25, $26)
"""  # noqa: S608 - constant clauses only


def insert_arguments(record: OutboxRecord) -> tuple[object, ...]:
    envelope = record.envelope
    return (
        envelope.id,  # asyncpg encodes a uuid's text itself, without a uuid.UUID
        record.topic,
        envelope.subject,
        envelope.type,
        envelope.source,
        envelope.time,
        envelope.traceparent,
        envelope.tracestate,
        envelope.data,
    )


async def insert(conn: asyncpg.Connection, record: OutboxRecord) -> None:
    await conn.execute(_INSERT, *insert_arguments(record))


# The advisory lock space of the relays' turns (the two-key form: apart from the
# migrations' single-key lock).
_RELAY_LOCK_CLASS = 0x0E1A


async def claim_batch(
    conn: asyncpg.Connection, *, topic_prefix: str, limit: int
) -> list[PendingRow]:
    """Lock the oldest unpublished rows of this deployment; call inside a transaction.

    Several relays may run (replicas, for availability), but one batch of a deployment
    is published at a time: the claim takes a lock for the rest of the transaction, and
    a relay that cannot get it claims nothing (another relay's batch is under way). So
    the next batch is claimed only after the previous one's acks and commit, and every
    application's events reach Kafka in the order they were committed; row locks alone
    (SKIP LOCKED) would let a second relay publish an application's later row before
    the first relay's earlier one. The topic prefix keeps a relay to its own
    deployment's rows where one database serves several (the test suite runs many).
    """
    rows = await conn.fetch(
        """
        WITH turn AS MATERIALIZED (
            SELECT pg_try_advisory_xact_lock($3, hashtext($1)) AS held
        )
        SELECT id, event_id, topic, message_key, ce_type, ce_source, ce_time,
               traceparent, tracestate, payload
        FROM intake.outbox, turn
        WHERE turn.held AND published_at IS NULL AND starts_with(topic, $1)
        ORDER BY id
        LIMIT $2
        FOR UPDATE OF outbox SKIP LOCKED
        """,
        topic_prefix + ".",
        limit,
        _RELAY_LOCK_CLASS,
    )
    return [
        PendingRow(
            id=row["id"],
            record=OutboxRecord(row["topic"], row_envelope(row)),
        )
        for row in rows
    ]


def row_envelope(row: asyncpg.Record) -> Envelope:
    """The envelope an outbox row holds."""
    return Envelope(
        id=str(row["event_id"]),
        type=row["ce_type"],
        source=row["ce_source"],
        subject=row["message_key"],
        data=bytes(row["payload"]),
        time=row["ce_time"],
        traceparent=row["traceparent"],
        tracestate=row["tracestate"],
    )


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute(
        "UPDATE intake.outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    rows: int
    oldest_seconds: float


async def backlog(pool: asyncpg.Pool, *, topic_prefix: str) -> Backlog:
    """Unpublished rows of this deployment and the age of the oldest one."""
    row = await pool.fetchrow(
        """
        SELECT count(*) AS rows,
               coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest
        FROM intake.outbox
        WHERE published_at IS NULL AND starts_with(topic, $1)
        """,
        topic_prefix + ".",
    )
    assert row is not None
    return Backlog(rows=int(row["rows"]), oldest_seconds=float(row["oldest"]))


async def purge_published(pool: asyncpg.Pool, *, older_than_hours: float) -> int:
    """Delete rows published longer ago than the retention; returns how many."""
    result = await pool.execute(
        "DELETE FROM intake.outbox"
        " WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)",
        older_than_hours * 3600,
    )
    return int(result.split()[-1])
