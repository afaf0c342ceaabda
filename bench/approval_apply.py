"""What the approval follower's store costs per approval event: `python -m bench.approval_apply
[--applications 300] [--events 5] [--reset-sessions/--no-reset-sessions]`.

On a scratch database (created, migrated and dropped by the run) it records
`--applications` applications, then applies `--events` new approval events to each
through `ApprovalStore.apply`, the relay process's path (the fold left out: it returns
the state it is given, so only the store is measured). Wall time, this process's CPU
and the Postgres backend's CPU (from /proc, so Postgres must run on this machine) per
event; `--reset-sessions` gives the pool asyncpg's reset query per checkout, as the
relay had before it turned it off. JSON on stdout; nothing of the running system is
touched.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import typer

from bench.micro import Stopwatch, scratch_pool
from onceonly.intake.approval_store import ApprovalStore

_APPLICATIONS = """
    WITH integrator AS (
        INSERT INTO intake.integrators (id, name) VALUES ('bench', 'bench') RETURNING id
    )
    INSERT INTO intake.applications (
        application_code, integrator_id, matter_code, applicant_kind, name_sealed,
        name_masked, identifier_sealed, identifier_masked, mobile_sealed, mobile_masked,
        channels, language, submitted_at, event_id
    )
    SELECT format('330100-20261206-%s', lpad(i::text, 7, '0')), integrator.id,
           'household-transfer', 'person', 'sealed', 'masked', 'sealed', 'masked',
           'sealed', 'masked', ARRAY['sms'], 'zh', now(), gen_random_uuid()
      FROM generate_series(1, $1) i, integrator
    RETURNING application_code
"""


async def _run(applications: int, events: int, reset_sessions: bool) -> dict[str, Any]:
    async with scratch_pool(
        "approvals", component="intake", package="onceonly.intake", reset_sessions=reset_sessions
    ) as pool:
        codes = [row[0] for row in await pool.fetch(_APPLICATIONS, applications)]
        backend = await pool.fetchval("SELECT pg_backend_pid()")
        store = ApprovalStore(pool)
        for code in codes[:20]:  # statements prepared, caches warm
            await store.apply(code, str(uuid.uuid4()), lambda state: state)
        clock = Stopwatch(backend)
        for _ in range(events):
            for code in codes:
                await store.apply(code, str(uuid.uuid4()), lambda state: state)
        spent = clock.spent()
    applied = applications * events
    return {
        "benchmark": "approval_apply",
        "applications": applications,
        "events": applied,
        "reset_sessions": reset_sessions,
        "wall_ms_per_event": round(spent.wall_ms / applied, 3),
        "process_cpu_ms_per_event": round(spent.process_cpu_ms / applied, 3),
        "postgres_cpu_ms_per_event": round(spent.postgres_cpu_ms / applied, 3),
    }


def main(
    applications: int = typer.Option(300, help="applications recorded"),
    events: int = typer.Option(5, help="approval events applied to each"),
    reset_sessions: bool = typer.Option(False, help="asyncpg's reset query per checkout"),
) -> None:
    typer.echo(json.dumps(asyncio.run(_run(applications, events, reset_sessions)), indent=2))


if __name__ == "__main__":
    typer.run(main)
