"""Postgres side of the approval status: applying one event exactly once, reading the
state back, and the materials supplied since a request. Parameterised SQL only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from onceonly.approval import ApprovalStatus
from onceonly.intake.approval_status import (
    NOT_EXAMINED,
    clock_json,
    steps_json,
    stored_status,
    tasks_json,
)


class ApprovalStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def apply(
        self,
        application_code: str,
        event_id: str,
        fold: Callable[[ApprovalStatus], ApprovalStatus],
    ) -> bool:
        """Fold one event into the application's state, once per event id.

        False when the application is not intake's (another deployment's code) or the
        event was applied before. The status column of the application moves with it,
        in the same transaction, so that lists and the citizen lookup agree.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            # The application's row lock orders concurrent deliveries of its events.
            row = await conn.fetchrow(_LOCK_AND_READ, application_code, uuid.UUID(event_id))
            if row is None or row["seen"]:
                return False
            state = fold(_state(row) if row["status"] is not None else NOT_EXAMINED)
            await conn.execute(
                _SAVE,
                application_code,
                state.state.value,
                state.reason,
                list(state.missing_materials),
                state.missing_since,
                json.dumps(clock_json(state.clock)) if state.clock is not None else None,
                json.dumps(tasks_json(state), ensure_ascii=False),
                state.elicence_number,
                state.last_event_at,
                uuid.UUID(event_id),
                state.elicence_revoked_at,
                state.elicence_revocation_reason,
                state.supplement_due_at,
                json.dumps(steps_json(state)),
            )
        return True

    async def state_of(self, application_code: str) -> ApprovalStatus | None:
        """None until the first approval event of the application arrived."""
        row = await self._pool.fetchrow(
            """
            SELECT status, reason, missing_materials, missing_since, clock, tasks,
                   elicence_number, last_event_at, elicence_revoked_at,
                   elicence_revocation_reason, supplement_due_at, steps
            FROM intake.approval_status WHERE application_code = $1
            """,
            application_code,
        )
        return _state(row) if row is not None else None

    async def supplied_since(self, application_code: str, since: datetime | None) -> set[str]:
        """Material codes of the supplements recorded after `since` (all if None)."""
        rows = await self._pool.fetch(
            """
            SELECT m ->> 'code' AS code
            FROM intake.applicant_updates u,
                 jsonb_array_elements(u.details -> 'materials') AS m
            WHERE u.application_code = $1 AND u.kind = 'supplement'
              AND ($2::timestamptz IS NULL OR u.created_at > $2)
            """,
            application_code,
            since,
        )
        return {row["code"] for row in rows}


def _state(row: asyncpg.Record) -> ApprovalStatus:
    return stored_status(
        status=row["status"],
        reason=row["reason"],
        missing_materials=tuple(row["missing_materials"]),
        missing_since=row["missing_since"],
        clock=json.loads(row["clock"]) if row["clock"] is not None else None,
        tasks=json.loads(row["tasks"]),
        elicence_number=row["elicence_number"],
        last_event_at=row["last_event_at"],
        elicence_revoked_at=row["elicence_revoked_at"],
        elicence_revocation_reason=row["elicence_revocation_reason"],
        supplement_due_at=row["supplement_due_at"],
        steps=json.loads(row["steps"]),
    )


# The application locked (None: not intake's), its approval status (NULL columns until
# the first event) and whether event $2 was applied already: one round trip, and the
# event ids stay in the database.
_LOCK_AND_READ = """
    SELECT s.status, s.reason, s.missing_materials, s.missing_since, s.clock, s.tasks,
           s.elicence_number, s.last_event_at, s.elicence_revoked_at,
           s.elicence_revocation_reason, s.supplement_due_at, s.steps,
           COALESCE($2 = ANY(s.event_ids), false) AS seen
      FROM intake.applications a
      LEFT JOIN intake.approval_status s ON s.application_code = a.application_code
     WHERE a.application_code = $1
       FOR UPDATE OF a
"""
# The folded status, and the application's status column with it, in one statement.
_SAVE = """
    WITH saved AS (
        INSERT INTO intake.approval_status AS s (
            application_code, status, reason, missing_materials, missing_since,
            clock, tasks, elicence_number, last_event_at, event_ids,
            elicence_revoked_at, elicence_revocation_reason, supplement_due_at, steps)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, ARRAY[$10::uuid],
            $11, $12, $13, $14::jsonb)
        ON CONFLICT (application_code) DO UPDATE SET
            status = EXCLUDED.status,
            reason = EXCLUDED.reason,
            missing_materials = EXCLUDED.missing_materials,
            missing_since = EXCLUDED.missing_since,
            clock = EXCLUDED.clock,
            tasks = EXCLUDED.tasks,
            elicence_number = EXCLUDED.elicence_number,
            last_event_at = EXCLUDED.last_event_at,
            event_ids = s.event_ids || EXCLUDED.event_ids,
            elicence_revoked_at = EXCLUDED.elicence_revoked_at,
            elicence_revocation_reason = EXCLUDED.elicence_revocation_reason,
            supplement_due_at = EXCLUDED.supplement_due_at,
            steps = EXCLUDED.steps,
            updated_at = now()
    )
    UPDATE intake.applications SET status = $2 WHERE application_code = $1
"""
