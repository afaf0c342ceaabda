"""E-licences (电子证照): the result records issued on completion, one per application."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg


@dataclass(frozen=True)
class ELicence:
    number: str
    application_code: str
    matter_code: str
    licence_type: str
    holder_sealed: str
    holder_masked: str
    issued_at: datetime
    valid_until: datetime | None


def elicence_number(application_code: str) -> str:
    """Derived from the application code, so a retried issue cannot make a second one."""
    return f"EL-{application_code}"


class ELicenceStore(Protocol):
    async def issue(self, licence: ELicence) -> ELicence:
        """Record the licence, or return the one already issued for its application."""
        ...


class PostgresELicenceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def issue(self, licence: ELicence) -> ELicence:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO workflow.elicences (number, application_code, matter_code,
                    licence_type, holder_sealed, holder_masked, issued_at, valid_until)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (application_code) DO NOTHING
                """,
                licence.number,
                licence.application_code,
                licence.matter_code,
                licence.licence_type,
                licence.holder_sealed,
                licence.holder_masked,
                licence.issued_at,
                licence.valid_until,
            )
            row = await conn.fetchrow(
                "SELECT * FROM workflow.elicences WHERE application_code = $1",
                licence.application_code,
            )
        assert row is not None
        return ELicence(
            number=row["number"],
            application_code=row["application_code"],
            matter_code=row["matter_code"],
            licence_type=row["licence_type"],
            holder_sealed=row["holder_sealed"],
            holder_masked=row["holder_masked"],
            issued_at=row["issued_at"],
            valid_until=row["valid_until"],
        )


class InMemoryELicenceStore:
    """For workflow unit tests; behaves as the Postgres store does (first issue wins)."""

    def __init__(self) -> None:
        self.issued: dict[str, ELicence] = {}

    async def issue(self, licence: ELicence) -> ELicence:
        return self.issued.setdefault(licence.application_code, licence)
