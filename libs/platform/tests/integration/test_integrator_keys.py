"""One contract for the integrator key directory, run against `PostgresIntegratorKeys`
(inside a transaction rolled back after each case), the same behind `VerifiedKeyCache`,
and `InMemoryIntegratorKeys`: a key verifies to its integrator until it is revoked;
malformed, unknown and wrong keys are refused; revoking is idempotent; listing shows
every key, never a secret. And intake's migration 011 moves its former table's keys into
the directory unchanged."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from importlib import resources

import asyncpg
import pytest
import pytest_asyncio

from onceonly.platform.db import apply_migrations
from onceonly.platform.integrator_keys import (
    InMemoryIntegratorKeys,
    IntegratorKeys,
    PostgresIntegratorKeys,
    VerifiedKeyCache,
)
from onceonly.platform.testing import fresh_database, rolled_back

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(params=["postgres", "in-memory", "postgres-cached"])
async def keys(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> AsyncIterator[IntegratorKeys]:
    if request.param == "in-memory":
        yield InMemoryIntegratorKeys()
        return
    async with rolled_back(pool) as conn:
        directory = PostgresIntegratorKeys(conn)
        # The cache in front keeps the contract (revoking through it forgets the key).
        yield (
            directory if request.param == "postgres" else VerifiedKeyCache(directory, seconds=60.0)
        )


async def test_an_issued_key_verifies_to_its_integrator(keys: IntegratorKeys) -> None:
    first = await keys.issue("integrator-a")
    second = await keys.issue("integrator-a")
    other = await keys.issue("integrator-b")
    assert first.token != second.token
    assert await keys.verify(first.token) == "integrator-a"
    assert await keys.verify(second.token) == "integrator-a"
    assert await keys.verify(other.token) == "integrator-b"


async def test_malformed_unknown_and_wrong_keys_are_refused(keys: IntegratorKeys) -> None:
    key = await keys.issue("integrator-a")
    wrong_secret = f"oo_{key.key_id}_{secrets.token_urlsafe(32)}"
    unknown = f"oo_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    for token in ("", "not-a-key", f"oo_{key.key_id}_short", wrong_secret, unknown):
        assert await keys.verify(token) is None, token


async def test_a_revoked_key_is_refused_and_revoking_again_keeps_the_time(
    keys: IntegratorKeys,
) -> None:
    revoked, kept = await keys.issue("integrator-a"), await keys.issue("integrator-a")
    when = await keys.revoke(revoked.key_id)
    assert when is not None
    assert await keys.revoke(revoked.key_id) == when
    assert await keys.verify(revoked.token) is None
    assert await keys.verify(kept.token) == "integrator-a"
    assert await keys.revoke(secrets.token_hex(8)) is None


async def test_the_listing_shows_every_key_and_no_secret(keys: IntegratorKeys) -> None:
    mine = [await keys.issue("integrator-listed") for _ in range(3)]
    await keys.revoke(mine[1].key_id)
    listed = {
        record.key_id: record
        for record in await keys.listed()
        if record.integrator_id == "integrator-listed"
    }
    assert set(listed) == {key.key_id for key in mine}
    assert listed[mine[1].key_id].revoked_at is not None
    assert listed[mine[0].key_id].revoked_at is None
    assert all(not hasattr(record, "secret_sha256") for record in listed.values())


def _intake_migration(name: str) -> str:
    return resources.files("onceonly.intake").joinpath("migrations", name).read_text("utf-8")


async def test_intake_migration_011_moves_the_keys_into_the_directory() -> None:
    async with fresh_database() as dsn:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            # The database as it was: the platform's migrations and intake's first one.
            await apply_migrations(pool, component="platform", package="onceonly.platform")
            await pool.execute(_intake_migration("001_intake.sql"))
            await pool.execute("INSERT INTO intake.integrators (id, name) VALUES ('i-1', 'one')")
            secret_live, secret_revoked = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            for key_id, secret, revoked in (
                ("00000000000000aa", secret_live, False),
                ("00000000000000bb", secret_revoked, True),
            ):
                await pool.execute(
                    "INSERT INTO intake.api_keys (key_id, integrator_id, secret_sha256,"
                    " revoked_at) VALUES ($1, 'i-1', $2, CASE WHEN $3 THEN now() END)",
                    key_id,
                    hashlib.sha256(secret.encode()).digest(),
                    revoked,
                )

            await pool.execute(_intake_migration("011_keys_to_platform.sql"))

            directory = PostgresIntegratorKeys(pool)
            assert await directory.verify(f"oo_00000000000000aa_{secret_live}") == "i-1"
            assert await directory.verify(f"oo_00000000000000bb_{secret_revoked}") is None
            assert {record.key_id for record in await directory.listed()} == {
                "00000000000000aa",
                "00000000000000bb",
            }
            assert await pool.fetchval("SELECT to_regclass('intake.api_keys')") is None
        finally:
            await pool.close()
