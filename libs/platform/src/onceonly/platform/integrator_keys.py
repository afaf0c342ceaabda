"""The integrator key directory: one port, `IntegratorKeys`, that issues, verifies,
revokes and lists the API keys integrators present to intake and notify.

The directory is the platform's (table `platform.integrator_keys`, platform migration
003), so that neither service reads the other's tables; intake's admin CLI issues and
revokes through it, both APIs verify through it. `PostgresIntegratorKeys` is the real
adapter, `InMemoryIntegratorKeys` the fake for unit tests; one contract suite
(libs/platform/tests/integration/test_integrator_keys.py) runs against both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from onceonly.platform.apikeys import NewApiKey, generate_api_key, secret_matches, split_api_key


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the directory shows of a key: never its secret."""

    key_id: str
    integrator_id: str
    created_at: datetime
    revoked_at: datetime | None


class IntegratorKeys(Protocol):
    """Who owns which API key."""

    async def verify(self, token: str) -> str | None:
        """The integrator id of a presented key; None if it is malformed, unknown, has a
        wrong secret or is revoked (all four cost the same)."""
        ...

    async def issue(self, integrator_id: str) -> NewApiKey:
        """A new key for the integrator; its token is returned once and never stored."""
        ...

    async def revoke(self, key_id: str) -> datetime | None:
        """Revoke a key (idempotent): when it was revoked, or None if there is no such key."""
        ...

    async def listed(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        ...


class PostgresIntegratorKeys:
    """The directory in `platform.integrator_keys`, on a pool or on a connection (to
    issue a key in the caller's transaction)."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    async def verify(self, token: str) -> str | None:
        parsed = split_api_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = await self._db.fetchrow(
            "SELECT integrator_id, secret_sha256, revoked_at FROM platform.integrator_keys"
            " WHERE key_id = $1",
            key_id,
        )
        stored = bytes(row["secret_sha256"]) if row is not None else None
        if not secret_matches(secret, stored) or row is None or row["revoked_at"] is not None:
            return None
        return str(row["integrator_id"])

    async def issue(self, integrator_id: str) -> NewApiKey:
        key = generate_api_key()
        await self._db.execute(
            "INSERT INTO platform.integrator_keys (key_id, integrator_id, secret_sha256)"
            " VALUES ($1, $2, $3)",
            key.key_id,
            integrator_id,
            key.secret_sha256,
        )
        return key

    async def revoke(self, key_id: str) -> datetime | None:
        revoked_at: datetime | None = await self._db.fetchval(
            "UPDATE platform.integrator_keys SET revoked_at = coalesce(revoked_at, now())"
            " WHERE key_id = $1 RETURNING revoked_at",
            key_id,
        )
        return revoked_at

    async def listed(self) -> list[KeyRecord]:
        rows = await self._db.fetch(
            "SELECT key_id, integrator_id, created_at, revoked_at FROM platform.integrator_keys"
            " ORDER BY created_at, key_id"
        )
        return [
            KeyRecord(row["key_id"], row["integrator_id"], row["created_at"], row["revoked_at"])
            for row in rows
        ]


@dataclass(frozen=True, slots=True)
class _StoredKey:
    record: KeyRecord
    secret_sha256: bytes


class InMemoryIntegratorKeys:
    """The directory in a dict, for unit tests; held to the Postgres one by the contract
    suite."""

    def __init__(self) -> None:
        self._keys: dict[str, _StoredKey] = {}

    async def verify(self, token: str) -> str | None:
        parsed = split_api_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        stored = self._keys.get(key_id)
        if not secret_matches(secret, stored.secret_sha256 if stored else None):
            return None
        assert stored is not None  # secret_matches refuses an unknown key
        return None if stored.record.revoked_at is not None else stored.record.integrator_id

    async def issue(self, integrator_id: str) -> NewApiKey:
        key = generate_api_key()
        record = KeyRecord(key.key_id, integrator_id, datetime.now(UTC), None)
        self._keys[key.key_id] = _StoredKey(record, key.secret_sha256)
        return key

    async def revoke(self, key_id: str) -> datetime | None:
        stored = self._keys.get(key_id)
        if stored is None:
            return None
        if stored.record.revoked_at is None:
            record = replace(stored.record, revoked_at=datetime.now(UTC))
            self._keys[key_id] = replace(stored, record=record)
        return self._keys[key_id].record.revoked_at

    async def listed(self) -> list[KeyRecord]:
        return sorted(
            (stored.record for stored in self._keys.values()),
            key=lambda record: (record.created_at, record.key_id),
        )
