"""The relay's publish lag: for applications intake accepted, the time from the outbox
row's commit (created_at) to its Kafka record's timestamp, and the publishing rate."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bench.context import Accepted
from bench.kafka_tools import header, read_since
from bench.stats import rate_over_time, summarize


async def published_lag(
    pool: asyncpg.Pool, bootstrap: str, topic: str, accepted: list[Accepted]
) -> dict[str, object]:
    """The lag of `accepted` (rows of the database behind `pool`) to `topic`."""
    if not accepted:
        return {"applications": 0}
    rows = await pool.fetch(
        """
        SELECT o.event_id::text AS event_id, o.created_at
        FROM intake.applications a JOIN intake.outbox o ON o.event_id = a.event_id
        WHERE a.application_code = ANY($1::text[])
        """,
        [a.code for a in accepted],
    )
    if not rows:
        return {"applications": 0}
    committed: dict[str, datetime] = {r["event_id"]: r["created_at"] for r in rows}
    since_ms = int(min(r["created_at"] for r in rows).timestamp() * 1000) - 1000
    records, _ = await read_since(bootstrap, [topic], since_ms, limit_seconds=60)
    lags: list[float] = []
    stamps: list[float] = []
    seen: set[str] = set()
    for record in records:
        event_id = header(record, "ce_id")
        at = committed.get(event_id)
        if at is None or event_id in seen:
            continue  # another application, or a republished duplicate
        seen.add(event_id)
        stamps.append(record.timestamp / 1000)
        lags.append(max(0.0, record.timestamp / 1000 - at.timestamp()))
    return {
        "applications": len(committed),
        "published_seen": len(seen),
        "publish_lag": summarize(lags).as_dict(),
        "publish_rate_per_s": rate_over_time(stamps),
    }
