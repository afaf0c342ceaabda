"""Postgres adapters of intake: applications with their outbox rows, idempotency keys,
code sequences, integrators and API keys. Parameterised SQL only."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from onceonly.intake import outbox
from onceonly.intake.application_code import MAX_SEQUENCE
from onceonly.intake.errors import (
    ApplicationNotFound,
    SequenceExhausted,
    UnknownApiKey,
    UnknownIntegrator,
    UpdateConflict,
)
from onceonly.intake.idempotency import IdempotencyRequest, StoredAnswer
from onceonly.intake.outbox import OutboxRecord
from onceonly.intake.paging import Position
from onceonly.platform.apikeys import NewApiKey
from onceonly.platform.integrator_keys import PostgresIntegratorKeys


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    application_code: str
    integrator_id: str
    matter_code: str
    applicant_kind: str
    name_sealed: str
    name_masked: str
    identifier_sealed: str
    identifier_masked: str
    mobile_sealed: str
    mobile_masked: str
    channels: tuple[str, ...]
    language: str
    materials: list[dict[str, str]]
    form: dict[str, Any]
    status: str
    submitted_at: datetime
    event_id: str
    # 帮代办: the agent as stored (sealed and masked, events.SealedAgent.stored); None when
    # the applicant submitted themselves.
    agent: dict[str, Any] | None = None
    # The applicant's consents to shared-data checks: purpose, reference, given_at.
    consents: list[dict[str, str]] = field(default_factory=list)
    # Where it was submitted, and the division whose bodies decide it (jurisdiction).
    submitted_region: str | None = None
    competent_region: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateTarget:
    """What an applicant update needs of the application: its matter and its agent's
    authorisation (None: no agent)."""

    matter_code: str
    authorisation: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ApplicationSummary:
    application_code: str
    matter_code: str
    status: str
    submitted_at: datetime
    # The division that decides it (before jurisdictions: the code's region).
    competent_region: str = ""


@dataclass(frozen=True, slots=True)
class ProgressRow:
    application_code: str
    matter_code: str
    status: str
    mobile_sealed: str
    identifier_sealed: str
    submitted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """The answer to store under an Idempotency-Key with the effect it reports."""

    request: IdempotencyRequest
    status: int
    body: dict[str, Any]
    ttl_hours: float


_stdlib_json = json.JSONEncoder(ensure_ascii=False).encode


def _jsonb(value: object) -> str:
    """A jsonb parameter's text (a submission has four). orjson: about a tenth of the
    standard library's time; the standard library for what orjson refuses (an int
    beyond 64 bits), and Postgres reads both texts as the same value."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _stdlib_json(value)


def _claim(integrator: str, first: int) -> str:
    """The Idempotency-Key's claim: the answer stored under the key unless an unexpired
    one is there (an expired key is taken over); returns a row when claimed. `integrator`
    is its parameter, `first` the number of the first of `_answer_arguments`. Only
    parameter numbers are put in, never values."""
    key, sha, status, body, ttl = (f"${n}" for n in range(first, first + 5))
    return f"""
        INSERT INTO intake.idempotency_keys AS k
            (integrator_id, key, request_sha256, response_status, response_body)
        VALUES ({integrator}, {key}, {sha}, {status}, {body}::jsonb)
        ON CONFLICT (integrator_id, key) DO UPDATE
            SET request_sha256 = EXCLUDED.request_sha256,
                response_status = EXCLUDED.response_status,
                response_body = EXCLUDED.response_body,
                created_at = now()
            WHERE k.created_at <= now() - make_interval(secs => {ttl})
        RETURNING true
    """  # noqa: S608 - parameter numbers only


def _answer_arguments(answer: IdempotentAnswer) -> tuple[object, ...]:
    """The five parameters of `_claim` after the integrator's."""
    return (
        answer.request.key,
        answer.request.request_sha256,
        answer.status,
        _jsonb(answer.body),
        answer.ttl_hours * 3600,
    )


_CLAIM_KEY = _claim("$1", 2)


async def _claim_key(
    conn: asyncpg.Connection, integrator_id: str, answer: IdempotentAnswer
) -> bool:
    """Store the answer under its Idempotency-Key; call inside the effect's transaction.

    First in the transaction, so that a concurrent twin waits here on the key's index
    entry and then finds it taken; an expired key is taken over. False when taken.
    """
    claimed = await conn.fetchval(_CLAIM_KEY, integrator_id, *_answer_arguments(answer))
    return bool(claimed)


_APPLICATION_COLUMNS = """
    application_code, integrator_id, matter_code, applicant_kind,
    name_sealed, name_masked, identifier_sealed, identifier_masked,
    mobile_sealed, mobile_masked, channels, language, materials, form,
    status, submitted_at, event_id, agent, consents,
    submitted_region, competent_region
"""
# $18 to $26 are the outbox row's (outbox.INSERT_FROM_18).
_APPLICATION_VALUES = """
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb,
    $14::jsonb, $15, $16, $17, $27::jsonb, $28::jsonb, $29, $30
"""

_INSERT_APPLICATION = f"""
    WITH application AS (
        INSERT INTO intake.applications ({_APPLICATION_COLUMNS})
        VALUES ({_APPLICATION_VALUES})
    )
"""  # noqa: S608 - constant clauses only


# The application and its outbox row only if the Idempotency-Key is taken first, all in
# one statement (atomic on its own: no BEGIN and COMMIT round trips). A concurrent twin's
# claim waits on the key's index entry until this statement commits, then finds the key
# taken and inserts nothing, as `_claim_key` inside a transaction does.
_CLAIM_AND_INSERT_APPLICATION = f"""
    WITH claim AS ({_claim("$2", 31)}),
    application AS (
        INSERT INTO intake.applications ({_APPLICATION_COLUMNS})
        SELECT {_APPLICATION_VALUES}
        WHERE EXISTS (SELECT FROM claim)
    ),
    outbox_row AS (
        INSERT INTO intake.outbox ({outbox.COLUMNS})
        SELECT $18, $19, $20, $21, $22, $23, $24, $25, $26
        WHERE EXISTS (SELECT FROM claim)
    )
    SELECT EXISTS (SELECT FROM claim)
"""  # noqa: S608 - parameter numbers and constant clauses only


def _application_arguments(
    application: ApplicationRecord, event: OutboxRecord
) -> tuple[object, ...]:
    """$1 to $30 of `_INSERT_APPLICATION` (and of `_CLAIM_AND_INSERT_APPLICATION`)."""
    return (
        application.application_code,
        application.integrator_id,
        application.matter_code,
        application.applicant_kind,
        application.name_sealed,
        application.name_masked,
        application.identifier_sealed,
        application.identifier_masked,
        application.mobile_sealed,
        application.mobile_masked,
        list(application.channels),
        application.language,
        _jsonb(application.materials),
        _jsonb(application.form),
        application.status,
        application.submitted_at,
        application.event_id,  # a uuid's text, which asyncpg encodes itself
        *outbox.insert_arguments(event),
        _jsonb(application.agent) if application.agent else None,
        _jsonb(application.consents),
        application.submitted_region,
        application.competent_region,
    )


async def _insert_application_and_event(
    conn: asyncpg.Connection, application: ApplicationRecord, event: OutboxRecord
) -> None:
    """The application and its outbox row in one statement (one round trip)."""
    await conn.execute(
        _INSERT_APPLICATION + outbox.INSERT_FROM_18, *_application_arguments(application, event)
    )


async def _claim_and_insert_application_and_event(
    conn: asyncpg.Connection,
    application: ApplicationRecord,
    event: OutboxRecord,
    answer: IdempotentAnswer,
) -> bool:
    """The Idempotency-Key's answer, the application and its outbox row in one
    statement; False (nothing written) when the key was taken."""
    claimed = await conn.fetchval(
        _CLAIM_AND_INSERT_APPLICATION,
        *_application_arguments(application, event),
        *_answer_arguments(answer),
    )
    return bool(claimed)


@dataclass(frozen=True, slots=True)
class Centre:
    region: str | None  # None: the integrator has no centre of its own


class CentreCache:
    """Integrators' centres as read from the database within the last `seconds`: every
    submission needs its integrator's, and they change only by the admin CLI (`integrator
    region`), which this API then follows within `seconds`, as it follows a revoked key
    (the same setting, `integrator_key_cache_seconds`)."""

    def __init__(
        self,
        *,
        seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._seconds = seconds
        self._max_entries = max_entries
        self._clock = clock
        self._read: dict[str, tuple[Centre, float]] = {}

    def get(self, integrator_id: str) -> Centre | None:
        """The integrator's centre if read within `seconds`, else None."""
        found = self._read.get(integrator_id)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def put(self, integrator_id: str, region: str | None) -> None:
        if len(self._read) >= self._max_entries:
            self._read.clear()
        self._read[integrator_id] = (Centre(region), self._clock() + self._seconds)


def _nothing() -> None:
    pass


class SubmissionSession:
    """The steps of one submission on one connection (each pool checkout costs a reset
    round trip)."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        centres: CentreCache | None = None,
        outbox_written: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._centres = centres
        # Told once a transaction that wrote outbox rows has committed (wakes the relay).
        self._outbox_written = outbox_written or _nothing

    async def integrator_region(self, integrator_id: str) -> str | None:
        """The division of the integrator's service centre, if it has one of its own."""
        if self._centres is not None and (known := self._centres.get(integrator_id)):
            return known.region
        region: str | None = await self._conn.fetchval(
            "SELECT region_code FROM intake.integrators WHERE id = $1", integrator_id
        )
        if self._centres is not None:
            self._centres.put(integrator_id, region)
        return region

    async def next_sequence(self, region_code: str, day: date) -> int:
        """The next code sequence number of the day.

        Its own statement, not part of the submission's transaction: the row lock lasts
        one statement, so submissions do not queue behind each other's commits. A failed
        submission leaves a gap in the numbers, never a duplicate.

        Its commit does not wait for the disk (synchronous_commit off for this one
        statement's transaction, `set_config(..., true)`): the application that uses the
        number commits later, synchronously, and that flush carries every earlier WAL
        record, this increment's too. A crash can lose only an increment whose number no
        durable application holds, so nothing is issued twice, and a submission waits for
        one fsync instead of two (bench: intake's p99 at 500/s, docs/performance.md).
        """
        try:
            value = await self._conn.fetchval(
                """
                INSERT INTO intake.code_sequences AS s (region_code, day, last_seq)
                VALUES ($1, $2, 1)
                ON CONFLICT (region_code, day) DO UPDATE SET last_seq = s.last_seq + 1
                RETURNING last_seq, set_config('synchronous_commit', 'off', true)
                """,
                region_code,
                day,
            )
        except asyncpg.CheckViolationError:
            raise SequenceExhausted(
                f"region {region_code} used all {MAX_SEQUENCE} codes of {day}"
            ) from None
        return int(value)

    async def stored_answer(
        self, integrator_id: str, key: str, *, ttl_hours: float
    ) -> StoredAnswer | None:
        row = await self._conn.fetchrow(
            """
            SELECT request_sha256, response_status, response_body FROM intake.idempotency_keys
            WHERE integrator_id = $1 AND key = $2
              AND created_at > now() - make_interval(secs => $3)
            """,
            integrator_id,
            key,
            ttl_hours * 3600,
        )
        if row is None:
            return None
        return StoredAnswer(
            request_sha256=bytes(row["request_sha256"]),
            status=row["response_status"],
            body=json.loads(row["response_body"]),
        )

    async def record_submission(
        self,
        application: ApplicationRecord,
        event: OutboxRecord,
        answer: IdempotentAnswer | None,
    ) -> bool:
        """Insert the application, its outbox row and the idempotent answer in one
        transaction. False (and nothing written) when another request with the same
        Idempotency-Key committed first."""
        # One statement either way, atomic on its own: no BEGIN and COMMIT round trips.
        if answer is None:
            await _insert_application_and_event(self._conn, application, event)
            written = True
        else:
            written = await _claim_and_insert_application_and_event(
                self._conn, application, event, answer
            )
        if written:
            self._outbox_written()
        return written

    async def owned_uploads(self, integrator_id: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these uploads exist and belong to the integrator."""
        rows = await self._conn.fetch(
            "SELECT upload_id FROM intake.material_uploads"
            " WHERE integrator_id = $1 AND upload_id = ANY($2::uuid[])",
            integrator_id,
            ids,
        )
        return {row["upload_id"] for row in rows}

    async def update_target(self, integrator_id: str, code: str) -> UpdateTarget | None:
        """The matter and agent's authorisation of the integrator's own application;
        None for another's."""
        row = await self._conn.fetchrow(
            """
            SELECT matter_code, agent -> 'authorisation' AS authorisation
            FROM intake.applications
            WHERE application_code = $1 AND integrator_id = $2
            """,
            code,
            integrator_id,
        )
        if row is None:
            return None
        authorisation = row["authorisation"]
        return UpdateTarget(
            row["matter_code"], json.loads(authorisation) if authorisation is not None else None
        )

    async def has_capability(self, integrator_id: str, capability: str) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT $2 = ANY(capabilities) FROM intake.integrators WHERE id = $1",
                integrator_id,
                capability,
            )
        )

    async def matter_of_any(self, code: str) -> str | None:
        """The matter of the application `code`, whoever submitted it (a work order may
        concern any application)."""
        value = await self._conn.fetchval(
            "SELECT matter_code FROM intake.applications WHERE application_code = $1", code
        )
        return value if isinstance(value, str) else None

    async def record_work_order(
        self,
        integrator_id: str,
        row: dict[str, Any],
        event: OutboxRecord,
        answer: IdempotentAnswer | None,
    ) -> bool:
        """The order, its outbox row and the idempotent answer in one transaction; False
        (nothing written) when a concurrent twin took the Idempotency-Key."""
        conn = self._conn
        async with conn.transaction():
            if answer is not None and not await _claim_key(conn, integrator_id, answer):
                return False
            await conn.execute(
                """
                INSERT INTO intake.work_orders (order_code, integrator_id, kind,
                    attached_application_code, department_code, region_code,
                    hotline_reference, content_sealed, content_masked, caller_name_sealed,
                    caller_name_masked, caller_mobile_sealed, caller_mobile_masked,
                    filed_at, event_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                """,
                row["order_code"],
                integrator_id,
                row["kind"],
                row["attached_application_code"],
                row["department_code"],
                row["region_code"],
                row["hotline_reference"],
                row["content_sealed"],
                row["content_masked"],
                row["caller_name_sealed"],
                row["caller_name_masked"],
                row["caller_mobile_sealed"],
                row["caller_mobile_masked"],
                row["filed_at"],
                uuid.UUID(event.envelope.id),
            )
            await outbox.insert(conn, event)
        self._outbox_written()
        return True

    async def record_update(
        self,
        *,
        integrator_id: str,
        application_code: str,
        kind: str,
        details: dict[str, Any],
        event: OutboxRecord,
        answer: IdempotentAnswer | None,
    ) -> bool:
        """Insert an applicant update, its outbox row and the idempotent answer in one
        transaction. False (nothing written) when the Idempotency-Key was taken by a
        concurrent twin; raises ApplicationNotFound, UpdateConflict."""
        conn = self._conn
        async with conn.transaction():
            if answer is not None and not await _claim_key(conn, integrator_id, answer):
                return False
            # The row lock orders a supplement and a withdrawal of the same application.
            found = await conn.fetchval(
                """
                SELECT true FROM intake.applications
                WHERE application_code = $1 AND integrator_id = $2 FOR UPDATE
                """,
                application_code,
                integrator_id,
            )
            if not found:
                raise ApplicationNotFound(application_code)
            if kind == "supplement" and await conn.fetchval(
                """
                SELECT true FROM intake.applicant_updates
                WHERE application_code = $1 AND kind = 'withdrawal'
                """,
                application_code,
            ):
                raise UpdateConflict(
                    "withdrawn",
                    "The applicant asked to withdraw this application; it takes no supplements.",
                    "该申请已申请撤回, 不再接收补正材料.",
                )
            try:
                await conn.execute(
                    """
                    INSERT INTO intake.applicant_updates
                        (event_id, application_code, kind, details)
                    VALUES ($1, $2, $3, $4::jsonb)
                    """,
                    uuid.UUID(event.envelope.id),
                    application_code,
                    kind,
                    _jsonb(details),
                )
            except asyncpg.UniqueViolationError:
                raise _already(kind) from None
            await outbox.insert(conn, event)
        self._outbox_written()
        return True


class ApplicationStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        centre_seconds: float = 0.0,
        outbox_written: Callable[[], None] | None = None,
    ) -> None:
        self._pool = pool
        self._centres = CentreCache(seconds=centre_seconds) if centre_seconds > 0 else None
        self._outbox_written = outbox_written

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SubmissionSession]:
        """One connection for all the steps of one submission."""
        async with self._pool.acquire() as conn:
            yield SubmissionSession(conn, self._centres, self._outbox_written)

    async def application(self, integrator_id: str, code: str) -> ApplicationRecord | None:
        """The application if it exists *and* belongs to the integrator."""
        row = await self._pool.fetchrow(
            """
            SELECT application_code, integrator_id, matter_code, applicant_kind,
                   name_sealed, name_masked, identifier_sealed, identifier_masked,
                   mobile_sealed, mobile_masked, channels, language, materials, form,
                   status, submitted_at, event_id, agent, consents
            FROM intake.applications
            WHERE application_code = $1 AND integrator_id = $2
            """,
            code,
            integrator_id,
        )
        if row is None:
            return None
        return ApplicationRecord(
            application_code=row["application_code"],
            integrator_id=row["integrator_id"],
            matter_code=row["matter_code"],
            applicant_kind=row["applicant_kind"],
            name_sealed=row["name_sealed"],
            name_masked=row["name_masked"],
            identifier_sealed=row["identifier_sealed"],
            identifier_masked=row["identifier_masked"],
            mobile_sealed=row["mobile_sealed"],
            mobile_masked=row["mobile_masked"],
            channels=tuple(row["channels"]),
            language=row["language"],
            materials=json.loads(row["materials"]),
            form=json.loads(row["form"]),
            status=row["status"],
            submitted_at=row["submitted_at"],
            event_id=str(row["event_id"]),
            agent=json.loads(row["agent"]) if row["agent"] is not None else None,
            consents=json.loads(row["consents"]),
        )

    async def progress(self, code: str) -> ProgressRow | None:
        """What the citizen lookup needs of any integrator's application."""
        row = await self._pool.fetchrow(
            """
            SELECT application_code, matter_code, status, mobile_sealed, identifier_sealed,
                   submitted_at
            FROM intake.applications WHERE application_code = $1
            """,
            code,
        )
        if row is None:
            return None
        return ProgressRow(
            row["application_code"],
            row["matter_code"],
            row["status"],
            row["mobile_sealed"],
            row["identifier_sealed"],
            row["submitted_at"],
        )

    async def applications_page(
        self,
        integrator_id: str,
        *,
        matter_code: str | None,
        status: str | None,
        submitted_from: datetime | None,
        submitted_to: datetime | None,
        after: Position | None,
        limit: int,
    ) -> list[ApplicationSummary]:
        """Up to `limit` of the integrator's applications, newest first, after `after`."""
        rows = await self._pool.fetch(
            """
            SELECT application_code, matter_code, status, submitted_at,
                   coalesce(competent_region, left(application_code, 6)) AS competent_region
            FROM intake.applications
            WHERE integrator_id = $1
              AND ($2::text IS NULL OR matter_code = $2)
              AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR submitted_at >= $4)
              AND ($5::timestamptz IS NULL OR submitted_at < $5)
              AND ($6::timestamptz IS NULL OR (submitted_at, application_code) < ($6, $7))
            ORDER BY submitted_at DESC, application_code DESC
            LIMIT $8
            """,
            integrator_id,
            matter_code,
            status,
            submitted_from,
            submitted_to,
            after.submitted_at if after else None,
            after.application_code if after else None,
            limit,
        )
        return [
            ApplicationSummary(
                row["application_code"],
                row["matter_code"],
                row["status"],
                row["submitted_at"],
                row["competent_region"],
            )
            for row in rows
        ]

    async def purge_idempotency_keys(self, *, older_than_hours: float) -> int:
        result = await self._pool.execute(
            "DELETE FROM intake.idempotency_keys"
            " WHERE created_at < now() - make_interval(secs => $1)",
            older_than_hours * 3600,
        )
        return int(result.split()[-1])


@dataclass(frozen=True, slots=True)
class KeySummary:
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IntegratorSummary:
    id: str
    name: str
    created_at: datetime
    keys: tuple[KeySummary, ...]


class IntegratorStore:
    """The administration of integrators (intake's table) and their keys (the platform's
    key directory): the CLI's side."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_integrator(self, name: str) -> tuple[str, NewApiKey]:
        """A new integrator with a first API key; raises UniqueViolationError on a
        duplicate name."""
        integrator_id = str(uuid.uuid4())
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO intake.integrators (id, name) VALUES ($1, $2)", integrator_id, name
            )
            key = await PostgresIntegratorKeys(conn).issue(integrator_id)
        return integrator_id, key

    async def integrator_named(self, name: str) -> str | None:
        return await self._pool.fetchval("SELECT id FROM intake.integrators WHERE name = $1", name)

    async def key_for(self, name: str) -> tuple[str, NewApiKey]:
        """A new API key for the integrator named `name`, registered first if there is
        none yet (`integrator create NAME --reuse`)."""
        existing = await self.integrator_named(name)
        if existing is not None:
            return existing, await self.create_key(existing)
        return await self.create_integrator(name)

    async def set_region(self, integrator_id: str, region_code: str | None) -> None:
        """Where the integrator's applications are submitted (None: the intake's own
        region); raises UnknownIntegrator."""
        updated = await self._pool.fetchval(
            "UPDATE intake.integrators SET region_code = $2 WHERE id = $1 RETURNING true",
            integrator_id,
            region_code,
        )
        if not updated:
            raise UnknownIntegrator(integrator_id)

    async def grant(self, integrator_id: str, capability: str) -> None:
        """Give the integrator a capability (e.g. `hotline`); raises UnknownIntegrator."""
        updated = await self._pool.fetchval(
            """
            UPDATE intake.integrators
            SET capabilities = CASE WHEN $2 = ANY(capabilities) THEN capabilities
                                    ELSE array_append(capabilities, $2) END
            WHERE id = $1 RETURNING true
            """,
            integrator_id,
            capability,
        )
        if not updated:
            raise UnknownIntegrator(integrator_id)

    async def create_key(self, integrator_id: str) -> NewApiKey:
        async with self._pool.acquire() as conn, conn.transaction():
            exists = await conn.fetchval(
                "SELECT true FROM intake.integrators WHERE id = $1 FOR SHARE", integrator_id
            )
            if not exists:
                raise UnknownIntegrator(integrator_id)
            return await PostgresIntegratorKeys(conn).issue(integrator_id)

    async def revoke_key(self, key_id: str) -> datetime:
        """Revoke a key (idempotent); returns when it was revoked."""
        revoked_at = await PostgresIntegratorKeys(self._pool).revoke(key_id)
        if revoked_at is None:
            raise UnknownApiKey(key_id)
        return revoked_at

    async def integrators(self) -> list[IntegratorSummary]:
        rows = await self._pool.fetch(
            "SELECT id, name, created_at FROM intake.integrators ORDER BY created_at, id"
        )
        keys: dict[str, list[KeySummary]] = {}
        for key in await PostgresIntegratorKeys(self._pool).listed():
            keys.setdefault(key.integrator_id, []).append(
                KeySummary(key.key_id, key.created_at, key.revoked_at)
            )
        return [
            IntegratorSummary(
                row["id"], row["name"], row["created_at"], tuple(keys.get(row["id"], ()))
            )
            for row in rows
        ]


def _already(kind: str) -> UpdateConflict:
    if kind == "rating":
        return UpdateConflict(
            "already_rated",
            "This application has been rated; a rating is given once.",
            "该申请已评价, 每件申请只能评价一次.",
        )
    return UpdateConflict(
        "already_withdrawn",
        "Withdrawal of this application has already been requested.",
        "该申请已申请撤回.",
    )
