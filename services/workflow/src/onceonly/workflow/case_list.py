"""The department API's lists of supervision cases and rectifications, kept in Postgres by
the publishing activity: each case as of its last published event, so that listing a
department's cases is one paged read, not a Temporal query per case. An older update (a
retried or overtaken activity) never overwrites a newer one (`version`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

import asyncpg


class CaseListWriter(Protocol):
    async def record(self, kind: str, view: dict[str, Any]) -> None: ...


class PostgresCaseList:
    """`workflow.cases` (migration 008)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, kind: str, view: dict[str, Any]) -> None:
        opened = view.get("opened_at") or view["rated_at"]
        await self._pool.execute(
            """
            INSERT INTO workflow.cases (case_code, kind, department_code, application_code,
                status, opened_at, view, version)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
            ON CONFLICT (case_code) DO UPDATE
            SET status = EXCLUDED.status, view = EXCLUDED.view,
                version = EXCLUDED.version, updated_at = now()
            WHERE workflow.cases.version < EXCLUDED.version
            """,
            view["case_code"],
            kind,
            view["department_code"],
            view["application_code"],
            view["status"],
            datetime.fromisoformat(opened),
            json.dumps(view, ensure_ascii=False),
            view["version"],
        )

    async def page(
        self,
        kind: str,
        department: str,
        *,
        status: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The department's cases of `kind`, newest first, after the cursor `after`."""
        rows = await self._pool.fetch(
            """
            SELECT view, opened_at FROM workflow.cases
            WHERE kind = $1 AND department_code = $2
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR (opened_at, case_code) < ($4, $5))
            ORDER BY opened_at DESC, case_code DESC
            LIMIT $6
            """,
            kind,
            department,
            status,
            after[0] if after else None,
            after[1] if after else "",
            limit,
        )
        return [{**_view(row["view"]), "_opened_at": row["opened_at"]} for row in rows]

    async def department_of(self, kind: str, case_code: str) -> str | None:
        value = await self._pool.fetchval(
            "SELECT department_code FROM workflow.cases WHERE kind = $1 AND case_code = $2",
            kind,
            case_code,
        )
        return value if isinstance(value, str) else None


def _view(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
