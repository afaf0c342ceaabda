"""The raw limit under intake: the same durable writes issued straight through asyncpg.

A scratch schema (bench<run>) holds copies of intake's tables with their indexes,
checks and the NOTIFY trigger; each "request" takes a code sequence number (its own
statement, as intake does) and commits an application row and an outbox row in one
transaction, with the same values as a real row (copied from one intake accepted).
The schema is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from bench.load import Send


@asynccontextmanager
async def scratch_schema(dsn: str, schema: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(dsn)
    try:
        # The schema name is ours (bench + digits), never input: safe to format in.
        await conn.execute(
            f"""
            CREATE SCHEMA {schema};
            CREATE TABLE {schema}.applications (LIKE intake.applications INCLUDING ALL);
            CREATE TABLE {schema}.code_sequences (LIKE intake.code_sequences INCLUDING ALL);
            CREATE TABLE {schema}.outbox (LIKE intake.outbox INCLUDING ALL);
            CREATE SEQUENCE {schema}.outbox_id_seq OWNED BY {schema}.outbox.id;
            ALTER TABLE {schema}.outbox
                ALTER COLUMN id SET DEFAULT nextval('{schema}.outbox_id_seq');
            CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{schema}_outbox', '');
                RETURN NULL;
            END;
            $$;
            CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
                FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify();
            """
        )
        yield schema
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def template_rows(pool: asyncpg.Pool, code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One real application of intake and its outbox row, as column -> value."""
    application = await pool.fetchrow(
        "SELECT * FROM intake.applications WHERE application_code = $1", code
    )
    assert application is not None, f"application {code} not found"
    event = await pool.fetchrow(
        "SELECT * FROM intake.outbox WHERE event_id = $1", application["event_id"]
    )
    assert event is not None, f"outbox row of {code} not found"
    return dict(application), dict(event)


def raw_writer(
    pool: asyncpg.Pool, schema: str, application: dict[str, Any], event: dict[str, Any]
) -> Send:
    """A `Send` doing intake's writes for one application, on one pooled connection."""
    insert_application = f"""
        INSERT INTO {schema}.applications (
            application_code, integrator_id, matter_code, applicant_kind,
            name_sealed, name_masked, identifier_sealed, identifier_masked,
            mobile_sealed, mobile_masked, channels, language, materials, form,
            status, submitted_at, event_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb,
                $14::jsonb, $15, $16, $17)
    """
    insert_event = f"""
        INSERT INTO {schema}.outbox (event_id, topic, message_key, ce_type, ce_source,
                                     ce_time, traceparent, tracestate, payload)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    """
    next_sequence = f"""
        INSERT INTO {schema}.code_sequences AS s (region_code, day, last_seq)
        VALUES ($1, $2, 1)
        ON CONFLICT (region_code, day) DO UPDATE SET last_seq = s.last_seq + 1
        RETURNING last_seq
    """
    a, e = application, event
    today = date.today()

    async def send(i: int) -> bool:
        async with pool.acquire() as conn:
            sequence = await conn.fetchval(next_sequence, "330100", today)
            code = f"raw-{sequence:09d}"
            event_id = uuid.uuid4()
            now = datetime.now(UTC)
            async with conn.transaction():
                await conn.execute(
                    insert_application,
                    code,
                    a["integrator_id"],
                    a["matter_code"],
                    a["applicant_kind"],
                    a["name_sealed"],
                    a["name_masked"],
                    a["identifier_sealed"],
                    a["identifier_masked"],
                    a["mobile_sealed"],
                    a["mobile_masked"],
                    a["channels"],
                    a["language"],
                    a["materials"],
                    a["form"],
                    a["status"],
                    now,
                    event_id,
                )
                await conn.execute(
                    insert_event,
                    event_id,
                    e["topic"],
                    code,
                    e["ce_type"],
                    e["ce_source"],
                    now,
                    e["traceparent"],
                    e["tracestate"],
                    e["payload"],
                )
        return True

    return send
