"""Rotation of the PII key over intake's stored applications.

A new key is put first in ONCEONLY_PII_KEYS (it seals from then on; the old one still
opens). `onceonly-intake reseal-pii` then seals every stored value again under the new
key, batch by batch, so that the old key can be removed from the settings. Safe to
run while the API serves and to run again (rows already under the primary key are
skipped). Events already on Kafka keep their old sealing until their retention ends.
"""

from __future__ import annotations

import asyncpg
import structlog

from onceonly.platform.pii import PiiSealer

log = structlog.get_logger(__name__)

FIELDS = ("name", "identifier", "mobile")


async def reseal_applications(
    pool: asyncpg.Pool,
    sealer: PiiSealer,
    *,
    integrator_id: str | None = None,
    batch: int = 500,
) -> int:
    """Reseal every application (of one integrator, if given) not yet wholly under the
    primary key; how many were.

    Raises PiiError when a value opens with none of the configured keys (the retired
    key must be configured again before the command can finish).
    """
    prefix = f"{sealer.primary_key_id}:"
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: a row being written by a request is taken in a later batch.
            rows = await conn.fetch(
                """
                SELECT application_code, name_sealed, identifier_sealed, mobile_sealed
                FROM intake.applications
                WHERE ($3::text IS NULL OR integrator_id = $3)
                  AND (left(name_sealed, length($1)) <> $1
                       OR left(identifier_sealed, length($1)) <> $1
                       OR left(mobile_sealed, length($1)) <> $1)
                LIMIT $2
                FOR UPDATE SKIP LOCKED
                """,
                prefix,
                batch,
                integrator_id,
            )
            if not rows:
                return total
            updates = []
            for row in rows:
                code = row["application_code"]
                values = [
                    row[f"{field}_sealed"]
                    if row[f"{field}_sealed"].startswith(prefix)
                    else sealer.reseal(row[f"{field}_sealed"], context=f"{code}:{field}")
                    for field in FIELDS
                ]
                updates.append((code, *values))
            await conn.executemany(
                """
                UPDATE intake.applications
                SET name_sealed = $2, identifier_sealed = $3, mobile_sealed = $4
                WHERE application_code = $1
                """,
                updates,
            )
        total += len(rows)
        log.info("applications resealed", batch=len(rows), total=total)
