"""The Postgres pool and per-component SQL migrations."""

from __future__ import annotations

import asyncio
import hashlib
import time
from importlib import resources

import asyncpg
import structlog

from onceonly.platform.telemetry import trace_queries

log = structlog.get_logger(__name__)

# What a lost or restarted database raises at a caller that should wait and try again:
# the socket's errors, the server's, the driver's on a closed connection, and its
# protocol-state error on a connection the server dropped mid-operation
# (InternalClientError "cannot switch to state ...": seen at the relay when PostgreSQL
# was killed under Temporal's load, 2026-12-05; it subclasses neither of the others).
DATABASE_TROUBLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

_MIGRATIONS_TABLE = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE TABLE IF NOT EXISTS platform.schema_migrations (
    component   text        NOT NULL,
    version     text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
);
"""


async def create_pool(
    dsn: str, *, max_size: int = 10, min_size: int = 1, reset_sessions: bool = True
) -> asyncpg.Pool:
    """With `reset_sessions` False, a connection returned to the pool is not sent
    asyncpg's reset query (advisory unlock all, CLOSE ALL, UNLISTEN *, RESET ALL): a
    round trip per checkout, for pools whose users leave no session state behind (an
    open transaction is still rolled back). Every statement run inside a span is traced
    (`telemetry.QuerySpans`) if spans are exported (`telemetry.spans_exported`)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=None if reset_sessions else _keep_session,
        init=trace_queries,
    )
    assert pool is not None
    return pool


async def _keep_session(_: asyncpg.Connection) -> None:
    return None


async def apply_migrations(pool: asyncpg.Pool, *, component: str, package: str) -> list[str]:
    """Apply `package`'s `migrations/NNN_name.sql` files not yet applied, in order.

    Serialised across processes by an advisory lock, so that every process of a service
    may call it at start-up. A changed file that was already applied is an error.
    """
    folder = resources.files(package).joinpath("migrations")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    applied: list[str] = []
    digest = hashlib.sha256(b"onceonly-migrations").digest()
    lock_key = int.from_bytes(digest[:8], "big", signed=True)
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
        try:
            await conn.execute(_MIGRATIONS_TABLE)
            done = {
                row["version"]: row["checksum"]
                for row in await conn.fetch(
                    "SELECT version, checksum FROM platform.schema_migrations WHERE component = $1",
                    component,
                )
            }
            for entry in files:
                sql = entry.read_text(encoding="utf-8")
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                version = entry.name.removesuffix(".sql")
                if version in done:
                    if done[version] != checksum:
                        raise RuntimeError(
                            f"migration {component}/{entry.name} changed after it was applied"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO platform.schema_migrations (component, version, checksum)"
                        " VALUES ($1, $2, $3)",
                        component,
                        version,
                        checksum,
                    )
                applied.append(version)
                log.info("migration applied", component=component, version=version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied


async def prepare_database(pool: asyncpg.Pool, *, component: str, package: str) -> None:
    """Apply the platform's own migrations, then the component's."""
    await apply_migrations(pool, component="platform", package="onceonly.platform")
    await apply_migrations(pool, component=component, package=package)


async def drop_database(url: str, name: str, *, within_seconds: float = 30.0) -> None:
    """DROP DATABASE `name` WITH (FORCE) through a connection to `url` (any database of
    the server but `name`). `name` must be ours (a scratch database), never input: the
    statement takes no parameters.

    Tried again while PostgreSQL 15 refuses with InsufficientPrivilegeError: FORCE
    terminates the other sessions only of roles the caller belongs to, and an autovacuum
    worker that happens to be in the database belongs to none, so a role that is not a
    superuser is refused until the worker is done (a CI run failed so, 2026-12-06)."""
    deadline = time.monotonic() + within_seconds
    conn = await asyncpg.connect(url)
    try:
        while True:
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.2)
    finally:
        await conn.close()
