"""The Postgres adapter of tracking: timeline appends, reads, verification, status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message

from onceonly.events.v1 import application_pb2
from onceonly.platform.elicence_signatures import PublishedKeys
from onceonly.platform.envelope import Envelope
from onceonly.platform.events import parse_event
from onceonly.tracking import chain
from onceonly.tracking.batch import Appended, Pending, Plan, Result, aware, causes_of, has_nul, plan
from onceonly.tracking.causes import awaited_cause, not_ready
from onceonly.tracking.checkpoint import Anchor, AnchorState, check_anchor
from onceonly.tracking.checkpoint_store import CheckpointStore, StoredCheckpointInvalid
from onceonly.tracking.errors import (
    ApplicationNotFound,
    BatchConflict,
    UnprocessableEvent,
)
from onceonly.tracking.recordable import unrecordable_reason
from onceonly.tracking.status import (
    ApplicationStatus,
    apply_event,
    stored_status,
    supervision_json,
    tasks_json,
)
from onceonly.tracking.status_cache import StatusCache
from onceonly.tracking.summary import summarise


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One recorded event as the API shows it."""

    seq: int
    event_id: str
    type: str
    source: str
    time: datetime
    summary: dict[str, Any]
    prev_hash: str
    hash: str
    topic: str
    partition: int
    offset: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of recomputing an application's chain and checking it against the
    latest signed checkpoint (`anchor`: anchored, contradicted, not_covered or
    unverifiable; checkpoint.py). A chain contradicted by the checkpoint is not intact,
    however well its links hold: it was rebuilt in the database."""

    intact: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str | None = None
    anchored: bool = False
    anchor: str | None = None
    anchor_reason: str | None = None
    checkpoint_number: int | None = None
    anchored_seq: int | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event just recorded: the application's status projection before and after.

    `projection_consistent` is False when the status row was missing under a timeline
    that already had entries (dropped and not rebuilt yet): `before` is not then what
    the timeline says, and a caller that needs it folds the timeline (`transition`).
    """

    before: ApplicationStatus | None
    after: ApplicationStatus
    projection_consistent: bool


class _Duplicate(Exception):
    """Rolls back an append whose event id is already recorded."""


class TrackingStore:
    """Timelines and status in the `tracking` schema (parameterised SQL only)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        checkpoints: CheckpointStore | None = None,
        checkpoint_keys: PublishedKeys | None = None,
    ) -> None:
        self._pool = pool
        self._checkpoints = checkpoints or CheckpointStore(pool)
        # What verification trusts to have signed a checkpoint; None: nothing can be.
        self._checkpoint_keys = checkpoint_keys
        # The status rows record_batch wrote, so that the next batch of the same
        # applications need not read them back (7 % of a batch's CPU, measured).
        self._status_cache = StatusCache()

    async def append(
        self,
        envelope: Envelope,
        *,
        topic: str,
        partition: int,
        offset: int,
        message: Message | None = None,
    ) -> bool:
        """Record one event at the end of its application's timeline (see `record`);
        False when the event id is already recorded."""
        found = await self.record(
            envelope, topic=topic, partition=partition, offset=offset, message=message
        )
        return found is not None

    async def record(
        self,
        envelope: Envelope,
        *,
        topic: str,
        partition: int,
        offset: int,
        message: Message | None = None,
    ) -> Recorded | None:
        """Record one event at the end of its application's timeline.

        None when the event id is already recorded (a redelivery, possibly read from
        another topic by another agent): nothing changes then. The timeline row, the
        chain head and the status projection change in one transaction, and the
        projection before and after is returned.
        Raises UnprocessableEvent for an event that can never be recorded, and
        CauseNotRecorded for one whose cause (causes.py) is not on the timeline yet, and
        SubmissionNotRecorded for the approval workflow's event on an empty timeline.
        """
        if message is None:
            message = envelope.message()
        reason = unrecordable_reason(envelope, message)
        if reason:
            raise UnprocessableEvent(reason)
        summary = summarise(message)
        if has_nul(summary):
            # jsonb refuses \u0000: retrying would block the partition for ever.
            raise UnprocessableEvent("event text contains NUL characters")
        code = envelope.subject
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._append(
                    conn, envelope, message, summary, code, topic, partition, offset
                )
        except _Duplicate:
            return None

    async def record_batch(self, items: Sequence[Pending]) -> list[Result]:
        """Record a batch of one partition's events in one transaction (batch.py says
        what each one does), in a fixed number of statements whatever its size.

        The heads of the batch's applications are locked first, in code order (two
        agents locking overlapping batches then wait for each other, never deadlock),
        so the reads that follow see every append committed before. Raises
        BatchConflict, with nothing written, when an event id turns up recorded under
        another application meanwhile: the caller records the batch one event at a time.
        """
        if not items:
            return []
        codes = sorted({item.envelope.subject for item in items})
        wanted = [item.envelope.id for item in items] + causes_of(items)
        async with self._pool.acquire() as conn, conn.transaction():
            heads = {
                row["application_code"]: (row["last_seq"], row["last_hash"])
                for row in await conn.fetch(_LOCK_HEADS, codes, chain.GENESIS_HASH)
            }
            cached, missing = self._status_cache.lookup(heads)
            statuses: dict[str, ApplicationStatus | None] = dict(cached)
            if missing:
                statuses.update(await self._statuses(conn, missing))
            recorded = {
                row["event_id"]: row["application_code"]
                for row in await conn.fetch(_RECORDED_IDS, wanted)
            }
            outcome = plan(items, heads=heads, statuses=statuses, recorded=recorded)
            try:
                await _write(conn, outcome)
            except asyncpg.UniqueViolationError as exc:
                raise BatchConflict(str(exc)) from exc
            # A head made for an application none of whose events was recorded goes, as
            # a single append's rollback drops it: a timeline has a head once it has entries.
            unused = [code for code in codes if heads[code][0] == 0 and code not in outcome.heads]
            if unused:
                await conn.execute(_DROP_NEW_HEADS, unused)
        # Committed: the rows now hold these statuses at these heads.
        self._status_cache.remember(outcome.heads, outcome.statuses)
        return outcome.results

    @staticmethod
    async def _statuses(
        conn: asyncpg.Connection, codes: list[str]
    ) -> dict[str, ApplicationStatus | None]:
        rows = await conn.fetch(
            "SELECT application_code, matter_code, status, tasks, last_event_at, supervision,"
            " due_at, rating FROM tracking.application_status"
            " WHERE application_code = ANY($1::text[])",
            codes,
        )
        found: dict[str, ApplicationStatus | None] = dict.fromkeys(codes)
        for row in rows:
            found[row["application_code"]] = _from_row(row["application_code"], row)
        return found

    async def _append(
        self,
        conn: asyncpg.Connection,
        envelope: Envelope,
        message: Message,
        summary: dict[str, Any],
        code: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> Recorded:
        # Lock the head (created if need be) and read it in one round trip: appends of
        # one application queue here, whichever agent runs them. ON CONFLICT DO UPDATE
        # returns the newest committed head, also after waiting for another append.
        head = await conn.fetchrow(_LOCK_HEAD, code, chain.GENESIS_HASH)
        assert head is not None
        # After the lock: the cause's own append, if it runs now, has committed or waits.
        cause = awaited_cause(message)
        waits = not_ready(
            message,
            code,
            head_seq=head["last_seq"],
            cause_recorded=cause is None or await conn.fetchval(_RECORDED, cause, code),
        )
        if waits is not None:
            raise waits  # rolls back, the head included
        # Its own statement, after the lock: a snapshot taken before the wait could miss
        # the status the previous append committed.
        current = await self._status(conn, code)
        shown = chain.Shown(
            summary=summary,
            topic=topic,
            partition=partition,
            offset=offset,
            # Set here, not by the database's default, so that the hash covers it.
            recorded_at=datetime.now(UTC),
        )
        entry = chain.next_entry(
            head_seq=head["last_seq"],
            head_hash=head["last_hash"],
            application_code=code,
            event_id=envelope.id,
            ce_type=envelope.type,
            ce_source=envelope.source,
            ce_time=envelope.time,
            data=envelope.data,
            shown=shown,
        )
        projected = apply_event(
            current, application_code=code, message=message, time=aware(envelope.time)
        )
        inserted = await conn.fetchval(
            _APPEND,
            code,
            entry.seq,
            entry.event_id,
            entry.ce_type,
            entry.ce_source,
            aware(entry.ce_time),
            topic,
            partition,
            offset,
            entry.data,
            json.dumps(summary, ensure_ascii=False),
            entry.prev_hash,
            entry.hash,
            shown.recorded_at,
            entry.version,
            *_status_values(projected),
        )
        if inserted is None:
            # Already recorded, here or under another application's lock.
            raise _Duplicate
        await _keep_regions(conn, code, message)
        # A status row missing under a timeline that has entries (projection dropped,
        # not rebuilt yet) is no "before": a caller that needs one folds the timeline.
        consistent = current is not None or head["last_seq"] == 0
        return Recorded(before=current, after=projected, projection_consistent=consistent)

    async def rebuild_status(self, codes: list[str] | None = None) -> int:
        """Recompute the status projection from the timelines (all, or those of `codes`).

        The projection is the fold of `apply_event` over an application's entries in
        recorded order, exactly what the appends computed one event at a time. Each
        application is rebuilt under its chain head's lock, so a concurrent append waits
        and then folds on top of the rebuilt row. Returns the number rebuilt.
        """
        if codes is None:
            codes = [
                row["application_code"]
                for row in await self._pool.fetch(
                    "SELECT application_code FROM tracking.timeline_heads ORDER BY 1"
                )
            ]
        for code in codes:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM tracking.timeline_heads WHERE application_code = $1 FOR UPDATE",
                    code,
                )
                rows = await conn.fetch(
                    "SELECT ce_type, ce_time, data FROM tracking.timeline"
                    " WHERE application_code = $1 ORDER BY seq",
                    code,
                )
                state: ApplicationStatus | None = None
                for row in rows:
                    message = parse_event(row["ce_type"], bytes(row["data"]))
                    state = apply_event(
                        state, application_code=code, message=message, time=row["ce_time"]
                    )
                # Rebuilt rows are read back from now on (the same fold, unless the
                # fold's code changed, and then this process's cache is the old one).
                self._status_cache.forget([code])
                if state is None:
                    await conn.execute(
                        "DELETE FROM tracking.application_status WHERE application_code = $1",
                        code,
                    )
                else:
                    await _save_status(conn, state)
                    for row in rows:
                        if row["ce_type"] == _SUBMITTED:
                            await _keep_regions(
                                conn, code, parse_event(row["ce_type"], bytes(row["data"]))
                            )
        return len(codes)

    async def transition(
        self, event_id: str, *, topic: str, partition: int, offset: int
    ) -> tuple[ApplicationStatus | None, ApplicationStatus] | None:
        """The application's status just before and just after this recorded event.

        None unless the event was recorded from exactly this Kafka message (a duplicate
        carried by another message changed nothing). Folded from the timeline, so the
        answer is the same whenever it is asked, also after a crash and a redelivery.
        """
        async with self._pool.acquire() as conn:
            found = await conn.fetchrow(
                "SELECT application_code, seq, topic, partition, kafka_offset"
                " FROM tracking.timeline WHERE event_id = $1",
                event_id,
            )
            if found is None or (found["topic"], found["partition"], found["kafka_offset"]) != (
                topic,
                partition,
                offset,
            ):
                return None
            code = found["application_code"]
            rows = await conn.fetch(
                "SELECT ce_type, ce_time, data FROM tracking.timeline"
                " WHERE application_code = $1 AND seq <= $2 ORDER BY seq",
                code,
                found["seq"],
            )
        before: ApplicationStatus | None = None
        after: ApplicationStatus | None = None
        for row in rows:
            before = after
            message = parse_event(row["ce_type"], bytes(row["data"]))
            after = apply_event(after, application_code=code, message=message, time=row["ce_time"])
        assert after is not None
        return before, after

    async def timeline(self, application_code: str) -> list[TimelineEntry]:
        """The entries in recorded order; raises ApplicationNotFound when there are none."""
        rows = await self._pool.fetch(
            """
            SELECT seq, event_id, ce_type, ce_source, ce_time, summary, prev_hash, hash,
                   topic, partition, kafka_offset, recorded_at
              FROM tracking.timeline WHERE application_code = $1 ORDER BY seq
            """,
            application_code,
        )
        if not rows:
            raise ApplicationNotFound(application_code)
        return [
            TimelineEntry(
                seq=row["seq"],
                event_id=row["event_id"],
                type=row["ce_type"],
                source=row["ce_source"],
                time=row["ce_time"],
                summary=json.loads(row["summary"]),
                prev_hash=row["prev_hash"],
                hash=row["hash"],
                topic=row["topic"],
                partition=row["partition"],
                offset=row["kafka_offset"],
                recorded_at=row["recorded_at"],
            )
            for row in rows
        ]

    async def chain_entries(self, application_code: str) -> list[chain.ChainEntry]:
        """The stored rows as the chain sees them (for an export); ApplicationNotFound."""
        rows = await self._pool.fetch(_CHAIN_ROWS, application_code)
        if not rows:
            raise ApplicationNotFound(application_code)
        return [_chain_entry(row) for row in rows]

    async def verify(self, application_code: str) -> Verification:
        """Recompute the chain from the stored rows and compare it with the head and with
        the latest signed checkpoint."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            # One snapshot for head, rows and checkpoint, so an append in between, or a
            # checkpoint made meanwhile over it, is not a "break".
            head = await conn.fetchrow(
                "SELECT last_seq, last_hash FROM tracking.timeline_heads"
                " WHERE application_code = $1",
                application_code,
            )
            rows = await conn.fetch(_CHAIN_ROWS, application_code)
            if head is None and not rows:
                raise ApplicationNotFound(application_code)
            entries = [_chain_entry(row) for row in rows]
            anchor = await self._anchor(conn, application_code, entries)
        # A missing head row with entries present is itself a break (seq 1 "beyond head").
        broken = chain.verify(
            entries, head=(head["last_seq"], head["last_hash"]) if head else (0, "")
        )
        anchored = {
            "anchored": anchor.anchored,
            "anchor": anchor.state.value,
            "anchor_reason": anchor.reason,
            "checkpoint_number": anchor.checkpoint_number,
            "anchored_seq": anchor.anchored_seq,
        }
        if broken is not None:
            return Verification(
                intact=False,
                entries=len(entries),
                first_broken_seq=broken.seq,
                reason=broken.reason,
                **anchored,
            )
        if anchor.state is AnchorState.CONTRADICTED:
            return Verification(
                intact=False,
                entries=len(entries),
                first_broken_seq=anchor.broken_seq,
                reason=anchor.reason,
                **anchored,
            )
        return Verification(intact=True, entries=len(entries), **anchored)

    async def _anchor(
        self, conn: asyncpg.Connection, code: str, entries: list[chain.ChainEntry]
    ) -> Anchor:
        """What the latest signed checkpoint says of this chain (read in its snapshot)."""
        if self._checkpoint_keys is None:
            return Anchor(AnchorState.UNVERIFIABLE, "no checkpoint keys are configured")
        try:
            latest = await self._checkpoints.coverage(code, self._checkpoint_keys, conn)
        except StoredCheckpointInvalid as exc:
            return Anchor(
                AnchorState.UNVERIFIABLE,
                f"the latest checkpoint ({exc.number}) does not verify: {exc.reason}",
                exc.number,
            )
        if latest is None:
            return Anchor(AnchorState.NOT_COVERED, "no checkpoint has been made yet")
        return check_anchor(
            entries, application_code=code, checkpoint=latest.payload, coverage=latest.coverage
        )

    async def competent_region(self, application_code: str) -> str:
        """The division that decides the application (before jurisdictions: its code's
        region); raises ApplicationNotFound for an unknown application."""
        region = await self._pool.fetchval(
            "SELECT coalesce(competent_region, left(application_code, 6))"
            " FROM tracking.application_status WHERE application_code = $1",
            application_code,
        )
        if region is None:
            raise ApplicationNotFound(application_code)
        return str(region)

    async def status(self, application_code: str) -> ApplicationStatus:
        """The projected status; raises ApplicationNotFound for an unknown application."""
        async with self._pool.acquire() as conn:
            found = await self._status(conn, application_code)
        if found is None:
            raise ApplicationNotFound(application_code)
        return found

    @staticmethod
    async def _status(conn: asyncpg.Connection, application_code: str) -> ApplicationStatus | None:
        row = await conn.fetchrow(
            "SELECT matter_code, status, tasks, last_event_at, supervision, due_at, rating"
            " FROM tracking.application_status WHERE application_code = $1",
            application_code,
        )
        if row is None:
            return None
        return _from_row(application_code, row)


def _from_row(application_code: str, row: asyncpg.Record) -> ApplicationStatus:
    return stored_status(
        application_code=application_code,
        matter_code=row["matter_code"],
        status=row["status"],
        tasks=json.loads(row["tasks"]),
        last_event_at=row["last_event_at"],
        supervision=json.loads(row["supervision"]),
        due_at=row["due_at"],
        rating=row["rating"],
    )


_CHAIN_ROWS = """
    SELECT application_code, seq, event_id, ce_type, ce_source, ce_time, data, prev_hash,
           hash, summary, topic, partition, kafka_offset, recorded_at, chain_version
      FROM tracking.timeline WHERE application_code = $1 ORDER BY seq
"""


def _chain_entry(row: asyncpg.Record) -> chain.ChainEntry:
    """A stored timeline row as the chain sees it."""
    return chain.ChainEntry(
        application_code=row["application_code"],
        seq=row["seq"],
        event_id=row["event_id"],
        ce_type=row["ce_type"],
        ce_source=row["ce_source"],
        ce_time=row["ce_time"],
        data=bytes(row["data"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        shown=chain.Shown(
            summary=json.loads(row["summary"]),
            topic=row["topic"],
            partition=row["partition"],
            offset=row["kafka_offset"],
            recorded_at=row["recorded_at"],
        ),
        version=row["chain_version"],
    )


# What an upsert of a status row changes when the row is there.
_STATUS_UPDATES = """
    submitted_at = EXCLUDED.submitted_at, matter_code = EXCLUDED.matter_code,
    status = EXCLUDED.status, tasks = EXCLUDED.tasks, last_event_at = EXCLUDED.last_event_at,
    supervision_level = EXCLUDED.supervision_level, paused = EXCLUDED.paused,
    due_at = EXCLUDED.due_at, supervision = EXCLUDED.supervision, rating = EXCLUDED.rating,
    updated_at = now()
"""


def _upsert_status(first: int, only_if: str = "", event_time: str = "NULL") -> str:
    """The upsert of one status row: the application code is $1, the other values
    ${first}... in `_status_values` order; `only_if` may hold a WHERE clause that
    decides whether the row is written; `event_time` the parameter of an event being
    appended in the same statement (its row is not visible to the statement yet). Only
    numbers are put in: no value ever is."""
    p = [f"${n}" for n in range(first, first + 9)]
    return f"""
        INSERT INTO tracking.application_status (
            application_code, matter_code, status, tasks, last_event_at, supervision_level,
            paused, due_at, supervision, rating, updated_at, submitted_at
        )
        SELECT $1, {p[0]}, {p[1]}, {p[2]}::jsonb, {p[3]}, {p[4]}, {p[5]}, {p[6]},
               {p[7]}::jsonb, {p[8]}, now(),
               -- The earliest event recorded (the submission once it is): the
               -- operations search's order (migration 012).
               coalesce(least((SELECT min(t.ce_time) FROM tracking.timeline t
                                WHERE t.application_code = $1), {event_time}), {p[3]}, now())
        {only_if}
        ON CONFLICT (application_code) DO UPDATE SET
        {_STATUS_UPDATES}
    """  # noqa: S608 - parameter numbers and constant clauses only


# A batch's statuses in one statement (`_upsert_status`'s columns, one row per
# application, in code order as the heads were locked), with the regions of the
# submissions among them: a competent region given sets both, none keeps the row's.
# As one upsert and one region update per application (executemany), they were two of
# every five statements a drain sent (bench.tracking_ingest, statements logged).
_SAVE_STATUSES = f"""
    INSERT INTO tracking.application_status AS s (
        application_code, matter_code, status, tasks, last_event_at, supervision_level,
        paused, due_at, supervision, rating, updated_at, submitted_at, submitted_region,
        competent_region
    )
    SELECT u.code, u.matter_code, u.status, u.tasks::jsonb, u.last_event_at, u.level,
           u.paused, u.due_at, u.supervision::jsonb, u.rating, now(),
           coalesce((SELECT min(t.ce_time) FROM tracking.timeline t
                      WHERE t.application_code = u.code), u.last_event_at, now()),
           u.submitted_region, u.competent_region
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                  $6::text[], $7::boolean[], $8::timestamptz[], $9::text[], $10::smallint[],
                  $11::text[], $12::text[])
        AS u(code, matter_code, status, tasks, last_event_at, level, paused, due_at,
             supervision, rating, submitted_region, competent_region)
    ON CONFLICT (application_code) DO UPDATE SET {_STATUS_UPDATES},
        submitted_region = CASE WHEN EXCLUDED.competent_region IS NULL
                                THEN s.submitted_region ELSE EXCLUDED.submitted_region END,
        competent_region = coalesce(EXCLUDED.competent_region, s.competent_region)
"""  # noqa: S608 - constant clauses only

_SUBMITTED = "onceonly.events.v1.ApplicationSubmitted"


async def _keep_regions(conn: asyncpg.Connection, code: str, message: Message) -> None:
    """A submission's regions (jurisdiction) on its status row, for the search and the
    staff's region scope; events from before jurisdictions carry none."""
    if isinstance(message, application_pb2.ApplicationSubmitted) and message.competent_region:
        await conn.execute(
            _KEEP_REGIONS, code, message.submitted_region or None, message.competent_region
        )


_KEEP_REGIONS = (
    "UPDATE tracking.application_status SET submitted_region = $2,"
    " competent_region = $3 WHERE application_code = $1"
)


def _status_values(state: ApplicationStatus) -> tuple[Any, ...]:
    return (
        state.matter_code or None,
        state.state.value,
        json.dumps(tasks_json(state), ensure_ascii=False),
        state.last_event_at,
        state.supervision_level.value,
        state.paused,
        state.due_at,
        json.dumps(supervision_json(state.alert), ensure_ascii=False),
        state.rating,
    )


_SAVE_STATUS = _upsert_status(2)


async def _save_status(conn: asyncpg.Connection, state: ApplicationStatus) -> None:
    await conn.execute(_SAVE_STATUS, state.application_code, *_status_values(state))


_RECORDED = (
    "SELECT EXISTS (SELECT 1 FROM tracking.timeline WHERE event_id = $1 AND application_code = $2)"
)
_LOCK_HEAD = """
    INSERT INTO tracking.timeline_heads AS h (application_code, last_seq, last_hash)
    VALUES ($1, 0, $2)
    ON CONFLICT (application_code) DO UPDATE SET last_seq = h.last_seq
    RETURNING h.last_seq, h.last_hash
"""

# Entry, head and status of one append in one round trip. Nothing changes when the
# event id is already recorded (by any application: the id is unique across timelines).
# Built from constants only (parameter numbers), never from values.
_APPEND = f"""
    WITH entry AS (
        INSERT INTO tracking.timeline (
            application_code, seq, event_id, ce_type, ce_source, ce_time, topic,
            partition, kafka_offset, data, summary, prev_hash, hash, recorded_at,
            chain_version
        ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15)
        ON CONFLICT (event_id) DO NOTHING
        RETURNING seq
    ), head AS (
        UPDATE tracking.timeline_heads
           SET last_seq = $2, last_hash = $13, updated_at = now()
         WHERE application_code = $1 AND EXISTS (SELECT 1 FROM entry)
    ), status AS ({_upsert_status(16, "WHERE EXISTS (SELECT 1 FROM entry)", "$6")})
    SELECT seq FROM entry
"""  # noqa: S608


# A batch's statements (record_batch). The heads are locked in code order.
_LOCK_HEADS = """
    INSERT INTO tracking.timeline_heads AS h (application_code, last_seq, last_hash)
    SELECT code, 0, $2 FROM unnest($1::text[]) AS code ORDER BY code
    ON CONFLICT (application_code) DO UPDATE SET last_seq = h.last_seq
    RETURNING h.application_code, h.last_seq, h.last_hash
"""
_RECORDED_IDS = (
    "SELECT event_id, application_code FROM tracking.timeline WHERE event_id = ANY($1::text[])"
)
_DROP_NEW_HEADS = (
    "DELETE FROM tracking.timeline_heads WHERE application_code = ANY($1::text[]) AND last_seq = 0"
)
# No ON CONFLICT: `plan` left out every id it found recorded, so a conflict is an id
# recorded under another application meanwhile (BatchConflict).
_APPEND_MANY = """
    INSERT INTO tracking.timeline (
        application_code, seq, event_id, ce_type, ce_source, ce_time, topic, partition,
        kafka_offset, data, summary, prev_hash, hash, recorded_at, chain_version
    )
    SELECT code, seq, event_id, ce_type, ce_source, ce_time, topic, part, off, data,
           summary::jsonb, prev_hash, hash, recorded_at, version
      FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                  $6::timestamptz[], $7::text[], $8::integer[], $9::bigint[], $10::bytea[],
                  $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::smallint[])
        AS u(code, seq, event_id, ce_type, ce_source, ce_time, topic, part, off, data,
             summary, prev_hash, hash, recorded_at, version)
"""
_MOVE_HEADS = """
    UPDATE tracking.timeline_heads AS h
       SET last_seq = u.seq, last_hash = u.hash, updated_at = now()
      FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(code, seq, hash)
     WHERE h.application_code = u.code
"""


async def _write(conn: asyncpg.Connection, outcome: Plan) -> None:
    """The batch's entries, then its heads and statuses (their last values: the status
    upsert reads the entries just written for `submitted_at`), then its regions."""
    appended: list[Appended] = outcome.appended
    if not appended:
        return
    entries = [a.entry for a in appended]
    # plan() makes entries of the current chain version, which show these.
    shown = [entry.shown for entry in entries if entry.shown is not None]
    assert len(shown) == len(entries)
    await conn.execute(
        _APPEND_MANY,
        [e.application_code for e in entries],
        [e.seq for e in entries],
        [e.event_id for e in entries],
        [e.ce_type for e in entries],
        [e.ce_source for e in entries],
        [aware(e.ce_time) for e in entries],
        [s.topic for s in shown],
        [s.partition for s in shown],
        [s.offset for s in shown],
        [e.data for e in entries],
        [a.summary_text for a in appended],
        [e.prev_hash for e in entries],
        [e.hash for e in entries],
        [s.recorded_at for s in shown],
        [e.version for e in entries],
    )
    codes = list(outcome.heads)
    await conn.execute(
        _MOVE_HEADS,
        codes,
        [outcome.heads[code][0] for code in codes],
        [outcome.heads[code][1] for code in codes],
    )
    regions = {
        a.entry.application_code: (a.message.submitted_region or None, a.message.competent_region)
        for a in appended
        if isinstance(a.message, application_pb2.ApplicationSubmitted)
        and a.message.competent_region
    }
    codes = sorted(outcome.statuses)
    if not codes:  # pragma: no cover - every appended entry's application has a status
        return
    values = [_status_values(outcome.statuses[code]) for code in codes]
    columns = [list(column) for column in zip(*values, strict=True)]
    await conn.execute(
        _SAVE_STATUSES,
        codes,
        *columns,
        [regions.get(code, (None, None))[0] for code in codes],
        [regions.get(code, (None, None))[1] for code in codes],
    )
