"""Runs an operations search (onceonly.tracking.search) on tracking's projection: one
query, keyset-paged, never a question to Temporal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from onceonly.tracking.search import Cursor, SearchQuery, conditions


@dataclass(frozen=True)
class Found:
    rows: list[dict[str, Any]]
    # Where the next page starts; None on the last page.
    next_cursor: Cursor | None


async def search(pool: asyncpg.Pool, query: SearchQuery) -> Found:
    where = conditions(query)
    # One more row than asked tells whether there is a next page.
    limit = f"${len(where.values) + 1}"
    rows = await pool.fetch(
        f"""
        SELECT s.application_code, s.matter_code, s.status, s.tasks, s.supervision_level,
               s.paused, s.due_at, s.submitted_at, s.last_event_at, s.rating,
               s.submitted_region, s.competent_region
          FROM tracking.application_status s
         WHERE {where.where}
         ORDER BY s.submitted_at DESC, s.application_code DESC
         LIMIT {limit}
        """,  # noqa: S608 - clauses are constants with numbered parameters
        *where.values,
        query.limit + 1,
    )
    page = [dict(row) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    last = page[-1] if page else None
    cursor = Cursor(last["submitted_at"], last["application_code"]) if more and last else None
    return Found(page, cursor)
