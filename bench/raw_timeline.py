"""The raw limit under tracking's recording: the same durable rows written straight
through asyncpg, in the shape of the agent's batches, with no Kafka, no faust and no
per-event Python.

A scratch schema (`bench_raw_<run>`) holds copies of tracking's timeline, head and
status tables with their indexes and checks (`LIKE ... INCLUDING ALL`). The rows the
agent has just recorded for the run's applications are read back, in the order they
were recorded, and written again by one connection, `batch` events per transaction as
the agent's batches are: the timeline rows by `COPY`, then each application's head and
its status row upserted, one multi-row statement each. The schema is dropped at the end.

What it leaves out of the agent's work is what the comparison is for: consuming and
acknowledging Kafka records, decoding each event, computing its chain hash, folding the
status, and faust's stream machinery.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg

from bench.monitor import cpu_seconds

BATCH = 200  # the agent's batch (tracking.agents.BATCH_MAX)

_HEADS = """
    INSERT INTO {schema}.timeline_heads AS h (application_code, last_seq, last_hash)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
    ON CONFLICT (application_code) DO UPDATE
        SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash, updated_at = now()
"""
_STATUSES = """
    INSERT INTO {schema}.application_status AS s
    SELECT * FROM unnest($1::{schema}.application_status[])
    ON CONFLICT (application_code) DO UPDATE
        SET status = EXCLUDED.status, tasks = EXCLUDED.tasks,
            last_event_at = EXCLUDED.last_event_at, supervision = EXCLUDED.supervision,
            updated_at = now()
"""


async def raw_timeline_write(
    pool: asyncpg.Pool, codes: list[str], *, batch: int = BATCH
) -> dict[str, Any]:
    """Write the recorded rows of `codes` again into a scratch schema; the rate, and the
    CPU of this process and of its Postgres backend per event."""
    schema = f"bench_raw_{uuid.uuid4().hex[:8]}"  # ours, never input: safe to format in
    timeline = await pool.fetch(
        "SELECT * FROM tracking.timeline WHERE application_code = ANY($1::text[])"
        " ORDER BY recorded_at, application_code, seq",
        codes,
    )
    statuses = {
        row["application_code"]: row
        for row in await pool.fetch(
            "SELECT * FROM tracking.application_status WHERE application_code = ANY($1::text[])",
            codes,
        )
    }
    if not timeline:
        raise RuntimeError("nothing recorded to write again")
    columns = list(timeline[0].keys())
    async with pool.acquire() as conn:
        await conn.execute(
            f"""
            CREATE SCHEMA {schema};
            CREATE TABLE {schema}.timeline (LIKE tracking.timeline INCLUDING ALL);
            CREATE TABLE {schema}.timeline_heads (LIKE tracking.timeline_heads INCLUDING ALL);
            CREATE TABLE {schema}.application_status
                (LIKE tracking.application_status INCLUDING ALL);
            """
        )
        try:
            backend = await conn.fetchval("SELECT pg_backend_pid()")
            heads, statuses_sql = _HEADS.format(schema=schema), _STATUSES.format(schema=schema)
            backend_cpu0, cpu0 = cpu_seconds(backend) or 0.0, time.process_time()
            start = time.perf_counter()
            for first in range(0, len(timeline), batch):
                chunk = timeline[first : first + batch]
                last = {row["application_code"]: row for row in chunk}  # each code's newest
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "timeline",
                        schema_name=schema,
                        columns=columns,
                        records=[tuple(row.values()) for row in chunk],
                    )
                    await conn.execute(
                        heads,
                        list(last),
                        [row["seq"] for row in last.values()],
                        [row["hash"] for row in last.values()],
                    )
                    await conn.execute(
                        statuses_sql,
                        [tuple(statuses[code].values()) for code in last if code in statuses],
                    )
            seconds = time.perf_counter() - start
            backend_cpu = (cpu_seconds(backend) or 0.0) - backend_cpu0
            own_cpu = time.process_time() - cpu0
        finally:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    events = len(timeline)
    return {
        "what": "the run's recorded timeline rows written again through asyncpg into a"
        f" scratch schema, {batch} events per transaction: COPY of the timeline rows, one"
        " upsert of the heads and one of the statuses (no Kafka, no decoding, no hashing)",
        "events": events,
        "seconds": round(seconds, 3),
        "events_per_s": round(events / seconds, 1) if seconds > 0 else None,
        "writer_cpu_ms_per_event": round(own_cpu * 1000 / events, 3),
        "postgres_backend_cpu_ms_per_event": round(backend_cpu * 1000 / events, 3),
    }
