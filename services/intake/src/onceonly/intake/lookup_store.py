"""Postgres side of the lookups projection (intake.shared_data_lookups, migration 009).
Parameterised SQL only; a redelivered event adds nothing (one row per check and time)."""

from __future__ import annotations

import uuid

import asyncpg

from onceonly.intake.lookups import Lookup, LookupsOfEvent


class LookupStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, application_code: str, event_id: str, found: LookupsOfEvent) -> None:
        """Keep the event's lookups; nothing for another deployment's application."""
        async with self._pool.acquire() as conn, conn.transaction():
            known = await conn.fetchval(
                "SELECT true FROM intake.applications WHERE application_code = $1",
                application_code,
            )
            if not known:
                return
            await conn.executemany(
                """
                INSERT INTO intake.shared_data_lookups (
                    application_code, check_name, checked_at, registry, record_reference,
                    passed, code, reason, reason_zh, consent_reference, event_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (application_code, check_name, checked_at) DO NOTHING
                """,
                [
                    (
                        application_code,
                        lookup.check,
                        lookup.checked_at,
                        lookup.registry,
                        lookup.record_reference,
                        lookup.passed,
                        lookup.code,
                        lookup.reason,
                        lookup.reason_zh,
                        lookup.consent_reference,
                        uuid.UUID(event_id),
                    )
                    for lookup in found.lookups
                ],
            )
            await conn.execute(
                """
                INSERT INTO intake.lookups_not_consented (application_code, checks)
                VALUES ($1, $2)
                ON CONFLICT (application_code) DO UPDATE SET checks = EXCLUDED.checks
                """,
                application_code,
                list(found.not_consented),
            )

    async def lookups(self, application_code: str) -> tuple[list[Lookup], list[str]]:
        """The application's lookups, oldest first, and the checks not consented to."""
        rows = await self._pool.fetch(
            """
            SELECT check_name, registry, record_reference, checked_at, passed, code, reason,
                   reason_zh, consent_reference
            FROM intake.shared_data_lookups WHERE application_code = $1
            ORDER BY checked_at, check_name
            """,
            application_code,
        )
        not_consented = await self._pool.fetchval(
            "SELECT checks FROM intake.lookups_not_consented WHERE application_code = $1",
            application_code,
        )
        return [
            Lookup(
                check=row["check_name"],
                registry=row["registry"],
                record_reference=row["record_reference"],
                checked_at=row["checked_at"],
                passed=row["passed"],
                code=row["code"],
                reason=row["reason"],
                reason_zh=row["reason_zh"],
                consent_reference=row["consent_reference"],
            )
            for row in rows
        ], list(not_consented or [])
