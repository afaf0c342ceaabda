"""What one timeline checkpoint costs at province scale: `python -m bench.checkpoint_cost
[--heads 100000] [--moved 900] [--new 900] [--rounds 3]`.

On a scratch database (created, migrated and dropped by the run) it records `--heads`
applications of one entry each, makes a first checkpoint over them, then per round
moves `--moved` heads (one more entry each) and adds `--new` applications (codes
anywhere in the leaves' order), a minute of a province at 15 applications/s, and makes
the next checkpoint; then once with nothing moved, and once by a new store. Each checkpoint is
measured as the agent pays for it: wall time, this process's CPU (threads included) and
the Postgres backend's CPU (from /proc, so Postgres must run on this machine). JSON on
stdout; nothing of the running system is touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import typer

from bench.config import Endpoints
from bench.scratch_intake import _admin, database_in
from onceonly.platform.db import prepare_database
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.secrets import DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS
from onceonly.tracking.checkpoint_store import CheckpointStore

_TICKS = os.sysconf("SC_CLK_TCK")

# One entry for each of the applications $1, its hash standing in for a chain's (the
# checkpoint reads heads and the entry at a head's seq, never recomputes a chain).
_RECORD = """
    WITH entries AS (
        INSERT INTO tracking.timeline (
            application_code, seq, event_id, ce_type, ce_source, ce_time, topic,
            partition, kafka_offset, data, summary, prev_hash, hash
        )
        SELECT code, 1, code || ':1', 'bench', 'bench', now(), 'bench', 0, 0, ''::bytea,
               '{}'::jsonb, '', md5(code || ':1')
          FROM unnest($1::text[]) AS code
        RETURNING application_code, hash
    )
    INSERT INTO tracking.timeline_heads (application_code, last_seq, last_hash)
    SELECT application_code, 1, hash FROM entries
"""
# `$1` heads chosen at random get one more entry, as appends do.
_MOVE = """
    WITH chosen AS (
        SELECT application_code, last_seq + 1 AS seq, last_hash AS prev
          FROM tracking.timeline_heads ORDER BY random() LIMIT $1
    ), entries AS (
        INSERT INTO tracking.timeline (
            application_code, seq, event_id, ce_type, ce_source, ce_time, topic,
            partition, kafka_offset, data, summary, prev_hash, hash
        )
        SELECT application_code, seq, application_code || ':' || seq, 'bench', 'bench',
               now(), 'bench', 0, 0, ''::bytea, '{}'::jsonb, prev,
               md5(application_code || ':' || seq)
          FROM chosen
        RETURNING application_code, seq, hash
    )
    UPDATE tracking.timeline_heads h SET last_seq = e.seq, last_hash = e.hash, updated_at = now()
      FROM entries e WHERE h.application_code = e.application_code
"""


def _new_codes(count: int) -> list[str]:
    """Codes that sort anywhere among the others' (a province's regions sort apart)."""
    return [f"BENCH-{uuid.uuid4().hex}" for _ in range(count)]


def _backend_cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / _TICKS


def _own_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


async def _measured(
    store: CheckpointStore, backend: int, keys: SigningKeys, moved: int, new: int = 0
) -> dict[str, Any]:
    before = (time.perf_counter(), _own_cpu_ms(), _backend_cpu_ms(backend))
    now = datetime.now(UTC)
    made = await store.make(
        signer=keys.current, keys=keys.published(), slot=now, now=now, keep_leaves=60
    )
    after = (time.perf_counter(), _own_cpu_ms(), _backend_cpu_ms(backend))
    return {
        "heads_moved": moved,
        "applications_new": new,
        "made": made is not None,
        "size": None if made is None else made.payload.size,
        "wall_ms": round((after[0] - before[0]) * 1000, 1),
        "process_cpu_ms": round(after[1] - before[1], 1),
        "postgres_cpu_ms": round(after[2] - before[2], 1),
    }


async def _run(heads: int, moved: int, new: int, rounds: int) -> dict[str, Any]:
    url = Endpoints().database_url
    database = f"bench_checkpoint_{uuid.uuid4().hex[:8]}"
    await _admin(url, f"CREATE DATABASE {database}")
    try:
        # One connection, so that every statement runs on the backend we measure.
        pool = await asyncpg.create_pool(database_in(url, database), min_size=1, max_size=1)
        assert pool is not None
        try:
            await prepare_database(pool, component="tracking", package="onceonly.tracking")
            await pool.execute(_RECORD, [f"BENCH-{i:09d}" for i in range(heads)])
            await pool.execute("VACUUM ANALYZE")
            backend = await pool.fetchval("SELECT pg_backend_pid()")
            keys = SigningKeys.parse(DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS, setting="B")
            store = CheckpointStore(pool)
            first = await _measured(store, backend, keys, heads)
            measured = []
            for _ in range(rounds):
                await pool.execute(_MOVE, moved)
                await pool.execute(_RECORD, _new_codes(new))
                measured.append(await _measured(store, backend, keys, moved, new))
            quiet = await _measured(store, backend, keys, 0)
            # Another process (a second agent, the CLI) makes the next one from the
            # database alone, without this one's cached tree.
            await pool.execute(_MOVE, moved)
            await pool.execute(_RECORD, _new_codes(new))
            cold = await _measured(CheckpointStore(pool), backend, keys, moved, new)
        finally:
            await pool.close()
    finally:
        await _admin(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return {
        "benchmark": "checkpoint_cost",
        "heads": heads,
        "first": first,
        "rounds": measured,
        "none_moved": quiet,
        "new_process": cold,
    }


def main(
    heads: int = typer.Option(100_000, help="applications (chain heads) in the database"),
    moved: int = typer.Option(900, help="heads moved before each measured checkpoint"),
    new: int = typer.Option(900, help="new applications before each measured checkpoint"),
    rounds: int = typer.Option(3, help="measured checkpoints with heads moved"),
) -> None:
    typer.echo(json.dumps(asyncio.run(_run(heads, moved, new, rounds)), indent=2))


if __name__ == "__main__":
    typer.run(main)
