"""Integrators authenticate to notify with the API key intake issued them
(`oo_<key_id>_<secret>`), checked as intake checks it: only SHA-256(secret) is stored
(intake.api_keys), compared in constant time, the same cost whether or not the key id
exists. Notify reads intake's key table (one database, read only) rather than keeping a
second set of keys that integrators would have to manage."""

from __future__ import annotations

import hashlib
import hmac
import re

import asyncpg

PREFIX = "oo"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{32,128}")
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()


def parse_api_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_sha256: bytes | None) -> bool:
    expected = stored_sha256 if stored_sha256 is not None else _DUMMY_HASH
    digest = hashlib.sha256(secret.encode()).digest()
    return hmac.compare_digest(digest, expected) and stored_sha256 is not None


class IntegratorKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def integrator_of(self, token: str) -> str | None:
        """The integrator id a presented key belongs to; None if malformed, unknown,
        wrong or revoked."""
        parsed = parse_api_key(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        row = await self._pool.fetchrow(
            "SELECT integrator_id, secret_sha256, revoked_at FROM intake.api_keys"
            " WHERE key_id = $1",
            key_id,
        )
        stored = bytes(row["secret_sha256"]) if row is not None else None
        if not secret_matches(secret, stored) or row is None or row["revoked_at"] is not None:
            return None
        return str(row["integrator_id"])
