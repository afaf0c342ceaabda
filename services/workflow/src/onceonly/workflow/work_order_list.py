"""The department API's list of work orders, kept in Postgres by the publishing activity:
each order as of its last published event, so that listing a department's orders is one
paged read, not a Temporal query per order. An older update (a retried or overtaken
activity) never overwrites a newer one (`version`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from onceonly.workflow.work_order_shared import WorkOrderView


class WorkOrderListWriter(Protocol):
    async def record(self, view: WorkOrderView) -> None: ...


def _json(view: WorkOrderView) -> str:
    return json.dumps(asdict(view), default=lambda value: value.isoformat())


class PostgresWorkOrderList:
    """`workflow.work_orders` (migration 007)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, view: WorkOrderView) -> None:
        await self._pool.execute(
            """
            INSERT INTO workflow.work_orders (order_code, department_code, status,
                filed_at, view, version)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6)
            ON CONFLICT (order_code) DO UPDATE
            SET status = EXCLUDED.status, view = EXCLUDED.view,
                version = EXCLUDED.version, updated_at = now()
            WHERE workflow.work_orders.version < EXCLUDED.version
            """,
            view.order_code,
            view.department_code,
            view.status,
            datetime.fromisoformat(view.filed_at),
            _json(view),
            view.version,
        )

    async def page(
        self,
        department: str,
        *,
        status: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[WorkOrderView]:
        """The department's orders, newest filed first, after the cursor `after`."""
        rows = await self._pool.fetch(
            """
            SELECT view FROM workflow.work_orders
            WHERE department_code = $1
              AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (filed_at, order_code) < ($3, $4))
            ORDER BY filed_at DESC, order_code DESC
            LIMIT $5
            """,
            department,
            status,
            after[0] if after else None,
            after[1] if after else "",
            limit,
        )
        return [view_of(row["view"]) for row in rows]

    async def department_of(self, order_code: str) -> str | None:
        value = await self._pool.fetchval(
            "SELECT department_code FROM workflow.work_orders WHERE order_code = $1", order_code
        )
        return value if isinstance(value, str) else None


def view_of(value: Any) -> WorkOrderView:
    data = json.loads(value) if isinstance(value, str) else dict(value)
    for name in ("sign_due_at", "reply_due_at", "signed_at", "answered_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    return WorkOrderView(**data)
