"""Integrators authenticate to notify with the API key intake issued them
(`oo_<key_id>_<secret>`), checked by the same code as in intake
(onceonly.platform.apikeys): only SHA-256(secret) is stored (intake.api_keys), compared
in constant time, the same cost whether or not the key id exists. Notify reads intake's
key table (one database, read only) rather than keeping a second set of keys that
integrators would have to manage."""

from __future__ import annotations

import asyncpg

from onceonly.platform.apikeys import secret_matches, split_api_key


class IntegratorKeys:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def integrator_of(self, token: str) -> str | None:
        """The integrator id a presented key belongs to; None if malformed, unknown,
        wrong or revoked."""
        parsed = split_api_key(token)
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
