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
import uuid
from datetime import UTC, datetime
from typing import Any

import typer

from bench.micro import Stopwatch, scratch_pool
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.secrets import DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS
from onceonly.tracking.checkpoint_store import CheckpointStore

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


async def _measured(
    store: CheckpointStore, backend: int, keys: SigningKeys, moved: int, new: int = 0
) -> dict[str, Any]:
    clock = Stopwatch(backend)
    now = datetime.now(UTC)
    made = await store.make(
        signer=keys.current, keys=keys.published(), slot=now, now=now, keep_leaves=60
    )
    spent = clock.spent()
    return {
        "heads_moved": moved,
        "applications_new": new,
        "made": made is not None,
        "size": None if made is None else made.payload.size,
        "wall_ms": round(spent.wall_ms, 1),
        "process_cpu_ms": round(spent.process_cpu_ms, 1),
        "postgres_cpu_ms": round(spent.postgres_cpu_ms, 1),
    }


async def _run(heads: int, moved: int, new: int, rounds: int) -> dict[str, Any]:
    async with scratch_pool(
        "checkpoint", component="tracking", package="onceonly.tracking"
    ) as pool:
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
