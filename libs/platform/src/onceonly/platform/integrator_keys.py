"""The integrator key directory: one port, `IntegratorKeys`, that issues, verifies,
revokes and lists the API keys integrators present to intake and notify.

The directory is the platform's (table `platform.integrator_keys`, platform migration
003), so that neither service reads the other's tables; intake's admin CLI issues and
revokes through it, both APIs verify through it. `PostgresIntegratorKeys` is the real
adapter, `InMemoryIntegratorKeys` the fake for unit tests; one contract suite
(libs/platform/tests/integration/test_integrator_keys.py) runs against both.
`VerifiedKeyCache` spares an API the directory's round trip for a key it verified a
moment ago (a revocation reaches it within the cache's few seconds).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
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


class VerifiedKeyCache:
    """`verify` in front of a directory, remembering each key it verified for `seconds`.

    An API verifies the same few keys on every request; this saves the directory's round
    trip (and a pool checkout) for all but the first request of a key in `seconds`. Only
    successes are kept, under the SHA-256 of the whole token (never the token itself), so
    a wrong secret, an unknown or a malformed key always reaches the directory. The price
    is that a revoked key still opens the API of each process for up to `seconds` after
    its revocation (docs/security.md). At most `max_keys` keys are kept (least recently
    used dropped). Issuing, revoking and listing go to the directory unchanged.
    """

    def __init__(
        self,
        keys: IntegratorKeys,
        *,
        seconds: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if seconds <= 0 or max_keys < 1:
            raise ValueError("seconds > 0 and max_keys >= 1")
        self._keys = keys
        self._seconds = seconds
        self._max_keys = max_keys
        self._clock = clock
        # sha256(token) -> (key id, integrator id, valid until on `clock`)
        self._verified: OrderedDict[bytes, tuple[str, str, float]] = OrderedDict()

    async def verify(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = self._verified.get(digest)
        now = self._clock()
        if found is not None:
            _, integrator_id, until = found
            if until > now:
                self._verified.move_to_end(digest)
                return integrator_id
            del self._verified[digest]
        integrator_id = await self._keys.verify(token)
        parsed = split_api_key(token)
        if integrator_id is not None and parsed is not None:
            # From before the directory was asked: a revocation committed while it was
            # being asked is honoured no later than `seconds` after it.
            self._verified[digest] = (parsed[0], integrator_id, now + self._seconds)
            self._verified.move_to_end(digest)
            while len(self._verified) > self._max_keys:
                self._verified.popitem(last=False)
        return integrator_id

    async def issue(self, integrator_id: str) -> NewApiKey:
        return await self._keys.issue(integrator_id)

    async def revoke(self, key_id: str) -> datetime | None:
        """Revoked in the directory and forgotten here at once; other processes' caches
        keep it for up to `seconds`."""
        revoked_at = await self._keys.revoke(key_id)
        for digest in [d for d, found in self._verified.items() if found[0] == key_id]:
            del self._verified[digest]
        return revoked_at

    async def listed(self) -> list[KeyRecord]:
        return await self._keys.listed()
