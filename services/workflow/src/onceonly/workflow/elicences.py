"""E-licences (电子证照): the result records issued on completion, one per application."""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    # The signed token (payload and signature) its QR code carries, and the signing key.
    key_id: str = ""
    token: str = ""
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    revoked_by: str = ""


@dataclass(frozen=True)
class Revocation:
    licence: ELicence
    first: bool  # False: it was revoked before (the first reason stays)


def elicence_number(application_code: str) -> str:
    """Derived from the application code, so a retried issue cannot make a second one."""
    return f"EL-{application_code}"


class ELicenceStore(Protocol):
    async def issue(self, licence: ELicence) -> ELicence:
        """Record the licence, or return the one already issued for its application."""
        ...

    async def find(self, number: str) -> ELicence | None: ...

    async def revoke(self, number: str, *, reason: str, by: str, at: datetime) -> Revocation | None:
        """Record the revocation (the first one wins); None for an unknown number."""
        ...


class PostgresELicenceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def issue(self, licence: ELicence) -> ELicence:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO workflow.elicences (number, application_code, matter_code,
                    licence_type, holder_sealed, holder_masked, issued_at, valid_until,
                    key_id, token)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
                licence.key_id,
                licence.token,
            )
            row = await conn.fetchrow(
                "SELECT * FROM workflow.elicences WHERE application_code = $1",
                licence.application_code,
            )
        assert row is not None
        return _licence(row)

    async def find(self, number: str) -> ELicence | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM workflow.elicences WHERE number = $1", number
        )
        return _licence(row) if row else None

    async def revoke(self, number: str, *, reason: str, by: str, at: datetime) -> Revocation | None:
        async with self._pool.acquire() as conn, conn.transaction():
            revoked = await conn.fetchrow(
                """
                UPDATE workflow.elicences
                   SET revoked_at = $2, revocation_reason = $3, revoked_by = $4
                 WHERE number = $1 AND revoked_at IS NULL
                RETURNING *
                """,
                number,
                at,
                reason,
                by,
            )
            if revoked is not None:
                return Revocation(_licence(revoked), first=True)
            row = await conn.fetchrow("SELECT * FROM workflow.elicences WHERE number = $1", number)
        return Revocation(_licence(row), first=False) if row else None


def _licence(row: asyncpg.Record) -> ELicence:
    return ELicence(
        number=row["number"],
        application_code=row["application_code"],
        matter_code=row["matter_code"],
        licence_type=row["licence_type"],
        holder_sealed=row["holder_sealed"],
        holder_masked=row["holder_masked"],
        issued_at=row["issued_at"],
        valid_until=row["valid_until"],
        key_id=row["key_id"],
        token=row["token"],
        revoked_at=row["revoked_at"],
        revocation_reason=row["revocation_reason"],
        revoked_by=row["revoked_by"],
    )


class InMemoryELicenceStore:
    """For workflow unit tests; behaves as the Postgres store does (first issue wins)."""

    def __init__(self) -> None:
        self.issued: dict[str, ELicence] = {}

    async def issue(self, licence: ELicence) -> ELicence:
        return self.issued.setdefault(licence.application_code, licence)

    async def find(self, number: str) -> ELicence | None:
        return next((x for x in self.issued.values() if x.number == number), None)

    async def revoke(self, number: str, *, reason: str, by: str, at: datetime) -> Revocation | None:
        licence = await self.find(number)
        if licence is None:
            return None
        if licence.revoked_at is not None:
            return Revocation(licence, first=False)
        revoked = replace(licence, revoked_at=at, revocation_reason=reason, revoked_by=by)
        self.issued[licence.application_code] = revoked
        return Revocation(revoked, first=True)
