"""Deferred records in PostgreSQL (platform.deferred_events), shared by every replica
of a consumer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from prometheus_client import Gauge

from onceonly.platform.deferral import Deferrals, DeferredRecord
from onceonly.platform.settings import PlatformSettings

STORED = Gauge(
    "onceonly_deferred_events_stored",
    "Events a consumer group has set aside, waiting for what they need (from Postgres)",
    ["consumer"],
)
OLDEST_SECONDS = Gauge(
    "onceonly_deferred_events_oldest_seconds",
    "How long the oldest event a consumer group has set aside has waited (0 when none)",
    ["consumer"],
)

_COLUMNS = (
    "SELECT id, consumer, key, topic, kafka_partition, kafka_offset, value,"
    " header_names, header_values, waiting_for, deferred_at FROM platform.deferred_events"
)
_OF_KEY = f"{_COLUMNS} WHERE consumer = $1 AND key = $2 ORDER BY id"
_OF_KEYS = f"{_COLUMNS} WHERE consumer = $1 AND key = ANY($2::bytea[]) ORDER BY id"


class PostgresDeferredStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, record: DeferredRecord) -> None:
        await self.add_many([record])

    async def add_many(self, records: Sequence[DeferredRecord]) -> None:
        # One pipelined round trip, atomic (asyncpg wraps executemany in a transaction).
        await self._pool.executemany(
            "INSERT INTO platform.deferred_events (consumer, key, topic, kafka_partition,"
            " kafka_offset, value, header_names, header_values, waiting_for, deferred_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " ON CONFLICT (consumer, topic, kafka_partition, kafka_offset) DO NOTHING",
            [
                (
                    record.consumer,
                    record.key,
                    record.topic,
                    record.partition,
                    record.offset,
                    record.value,
                    [name for name, _ in record.headers],
                    [value for _, value in record.headers],
                    record.waiting_for,
                    record.deferred_at,
                )
                for record in records
            ],
        )

    async def of_key(self, consumer: str, key: bytes) -> list[DeferredRecord]:
        rows = await self._pool.fetch(
            _OF_KEY,
            consumer,
            key,
        )
        return [_record(row) for row in rows]

    async def of_keys(self, consumer: str, keys: list[bytes]) -> list[DeferredRecord]:
        rows = await self._pool.fetch(_OF_KEYS, consumer, keys)
        return [_record(row) for row in rows]

    async def places(self, consumer: str) -> dict[bytes, set[tuple[str, int]]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT key, topic, kafka_partition FROM platform.deferred_events"
            " WHERE consumer = $1",
            consumer,
        )
        found: dict[bytes, set[tuple[str, int]]] = {}
        for row in rows:
            found.setdefault(bytes(row["key"]), set()).add((row["topic"], row["kafka_partition"]))
        return found

    async def remove(self, consumer: str, ids: list[int]) -> None:
        await self._pool.execute(
            "DELETE FROM platform.deferred_events WHERE consumer = $1 AND id = ANY($2::bigint[])",
            consumer,
            ids,
        )


def _record(row: asyncpg.Record) -> DeferredRecord:
    return DeferredRecord(
        consumer=row["consumer"],
        key=bytes(row["key"]),
        topic=row["topic"],
        partition=row["kafka_partition"],
        offset=row["kafka_offset"],
        value=bytes(row["value"]),
        headers=tuple(zip(row["header_names"], map(bytes, row["header_values"]), strict=True)),
        waiting_for=row["waiting_for"],
        deferred_at=row["deferred_at"],
        id=row["id"],
    )


def postgres_deferrals(pool: asyncpg.Pool, consumer: str, settings: PlatformSettings) -> Deferrals:
    """A consumer's deferrals in PostgreSQL, with the settings' wait and sweep."""
    return Deferrals(
        PostgresDeferredStore(pool),
        consumer,
        max_wait=timedelta(seconds=settings.deferral_max_wait_seconds),
        sweep_every=timedelta(seconds=settings.deferral_sweep_seconds),
    )


async def refresh_deferred_gauges(pool: asyncpg.Pool, consumers: list[str]) -> None:
    """Set the stored and oldest-wait gauges of `consumers` (consumer group ids) from the
    table, for an API process to export on behalf of its consumers."""
    rows = await pool.fetch(
        "SELECT consumer, count(*) AS stored,"
        " EXTRACT(EPOCH FROM now() - min(deferred_at))::float8 AS oldest"
        " FROM platform.deferred_events WHERE consumer = ANY($1::text[]) GROUP BY consumer",
        consumers,
    )
    found = {row["consumer"]: row for row in rows}
    for consumer in consumers:
        row = found.get(consumer)
        STORED.labels(consumer).set(row["stored"] if row else 0)
        OLDEST_SECONDS.labels(consumer).set(max(row["oldest"], 0.0) if row else 0.0)
