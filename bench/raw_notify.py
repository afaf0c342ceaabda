"""The raw limit under notify's delivering: the same durable rows and outcome events
written straight through asyncpg and aiokafka, one multi-row statement per step for a
consumer batch's worth of records, with no per-record Python.

A scratch schema (`bench_raw_<run>`) holds copies of notify's ledger, local outbox,
contacts and integrators tables (`LIKE ... INCLUDING ALL`). The rows notify has just
written for the run's applications are read back, with the outcome events it published,
and written again by one connection in notify's steps (the ledger's by its own
statements), each step one statement for the applications of `batch` consumed records:
the submissions' contacts and integrators, the deliveries opened as being sent, the
local provider's messages, the deliveries marked sent, the outcome events published
(awaiting the acks, as notify does), the deliveries marked published. The schema is
dropped at the end.

What it leaves out of notify's work is what the comparison is for: consuming and
committing Kafka records, decoding each event, rendering its text, opening the sealed
mobile number, the per-record coroutines, spans and log lines, and the lookups notify
makes before it knows what to write (the agent's contact, the webhook's integrator).
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord

from bench.monitor import cpu_seconds
from onceonly.notify import ledger_batches
from onceonly.platform.kafka import build_producer, ensure_topics
from onceonly.platform.kafka_ports import Producer

BATCH = 200  # records per fetch (platform.kafka.EventConsumer.run)

_MESSAGES = """
    INSERT INTO {schema}.local_messages
    SELECT * FROM unnest($1::{schema}.local_messages[])
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key, id, segments, created_at
"""
_CONTACTS = """
    INSERT INTO {schema}.contacts SELECT * FROM unnest($1::{schema}.contacts[])
    ON CONFLICT (application_code) DO NOTHING
"""
_INTEGRATORS = """
    INSERT INTO {schema}.applications SELECT * FROM unnest($1::{schema}.applications[])
    ON CONFLICT (application_code) DO NOTHING
"""
_TABLES = ("deliveries", "local_messages", "contacts", "applications")


def _statements(schema: str) -> dict[str, str]:
    """Each step's statement on the scratch schema: the ledger's own multi-row statements
    (notify.ledger_batches, as the consumer runs them), whole rows for the rest."""
    ledger = {
        "open": ledger_batches._OPEN,
        "mark_sent": ledger_batches._MARK_SENT,
        "mark_published": ledger_batches._MARK_PUBLISHED,
    }
    return {
        **{
            step: text.replace("notify.deliveries", f"{schema}.deliveries")
            for step, text in ledger.items()
        },
        "messages": _MESSAGES.format(schema=schema),
        "contacts": _CONTACTS.format(schema=schema),
        "integrators": _INTEGRATORS.format(schema=schema),
    }


async def raw_notify_write(
    pool: asyncpg.Pool,
    *,
    kafka: str,
    codes: list[str],
    records: int,
    outcomes: list[ConsumerRecord],
    topic: str,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Write notify's rows for `codes` again into a scratch schema and publish its
    `outcomes` again to `topic` (a scratch topic); the rate in consumed records/s
    (`records` of them), and the CPU of this process and of its Postgres backend."""
    schema = f"bench_raw_{uuid.uuid4().hex[:8]}"  # ours, never input: safe to format in
    rows: dict[str, dict[str, list[asyncpg.Record]]] = {}
    for table in _TABLES:
        grouped: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for row in await pool.fetch(
            f"SELECT * FROM notify.{table} WHERE application_code = ANY($1::text[])"
            + (" AND channel <> 'webhook' ORDER BY created_at" if table == "deliveries" else ""),
            codes,
        ):
            grouped[row["application_code"]].append(row)
        rows[table] = grouped
    if not rows["deliveries"]:
        raise RuntimeError("nothing delivered to write again")
    published: dict[str, list[ConsumerRecord]] = defaultdict(list)
    for record in outcomes:
        published[(record.key or b"").decode()].append(record)
    await ensure_topics(kafka, [topic])
    producer = build_producer(kafka, client_id=f"{schema}-producer")
    await producer.start()
    per_batch = max(1, batch * len(codes) // max(1, records))  # applications per batch
    sql = _statements(schema)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                f"CREATE SCHEMA {schema};"
                + "".join(
                    f"CREATE TABLE {schema}.{t} (LIKE notify.{t} INCLUDING ALL);" for t in _TABLES
                )
            )
            try:
                backend = await conn.fetchval("SELECT pg_backend_pid()")
                backend_cpu0, cpu0 = cpu_seconds(backend) or 0.0, time.process_time()
                start = time.perf_counter()
                for first in range(0, len(codes), per_batch):
                    chunk = codes[first : first + per_batch]
                    await _write_batch(conn, producer, sql, topic, chunk, rows, published)
                seconds = time.perf_counter() - start
                backend_cpu = (cpu_seconds(backend) or 0.0) - backend_cpu0
                own_cpu = time.process_time() - cpu0
            finally:
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await producer.stop()
    deliveries = sum(len(v) for v in rows["deliveries"].values())
    return {
        "what": "notify's rows of the run written again through asyncpg into a scratch"
        f" schema, one multi-row statement per step for the applications of {batch}"
        " records (contacts, integrators, deliveries opened, local messages, marked sent,"
        " marked published) and the outcome events published again, acks awaited (no"
        " consuming, decoding, rendering or per-record coroutines)",
        "records": records,
        "deliveries": deliveries,
        "outcomes": len(outcomes),
        "seconds": round(seconds, 3),
        "records_per_s": round(records / seconds, 1) if seconds > 0 else None,
        "writer_cpu_ms_per_record": round(own_cpu * 1000 / records, 3),
        "postgres_backend_cpu_ms_per_record": round(backend_cpu * 1000 / records, 3),
    }


async def _write_batch(
    conn: asyncpg.Connection,
    producer: Producer,
    sql: dict[str, str],
    topic: str,
    codes: list[str],
    rows: dict[str, dict[str, list[asyncpg.Record]]],
    published: dict[str, list[ConsumerRecord]],
) -> None:
    def of(table: str) -> list[asyncpg.Record]:
        return [row for code in codes for row in rows[table].get(code, [])]

    await conn.execute(sql["contacts"], [tuple(r.values()) for r in of("contacts")])
    await conn.execute(sql["integrators"], [tuple(r.values()) for r in of("applications")])
    deliveries = of("deliveries")
    keys = (
        [d["event_id"] for d in deliveries],
        [d["channel"] for d in deliveries],
        [d["recipient_hash"] for d in deliveries],
    )
    await conn.fetch(
        sql["open"],
        *keys,
        [d["application_code"] for d in deliveries],
        [d["cause_event_type"] for d in deliveries],
        [d["recipient_masked"] for d in deliveries],
        [d["template"] for d in deliveries],
        [d["language"] for d in deliveries],
        [d["urgent"] for d in deliveries],
        [d["created_at"] for d in deliveries],
    )
    await conn.fetch(sql["messages"], [tuple(r.values()) for r in of("local_messages")])
    await conn.fetch(
        sql["mark_sent"],
        *keys,
        [d["provider"] for d in deliveries],
        [d["provider_message_id"] for d in deliveries],
        [d["segments"] for d in deliveries],
        [d["completed_at"] for d in deliveries],
    )
    acks = [
        await producer.send(topic, value=r.value, key=r.key, headers=list(r.headers))
        for code in codes
        for r in published.get(code, [])
    ]
    for ack in acks:
        await ack
    await conn.execute(sql["mark_published"], *keys)
