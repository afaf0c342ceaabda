"""The delivery ledger in Postgres (notify.deliveries) and the queries of the API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from onceonly.events.v1 import application_pb2
from onceonly.notify.batching import Coalescer, first, itself
from onceonly.notify.ledger import DeliveryState, DeliveryStatus, LedgerKey
from onceonly.notify.ledger_batches import (
    Opening,
    SendStart,
    Sent,
    begin_many,
    mark_published_many,
    mark_sent_many,
    open_many,
)
from onceonly.notify.policy import HOUR, Deferral, DeliveryPolicy


@dataclass(frozen=True, slots=True)
class Delivery:
    key: LedgerKey
    application_code: str
    cause_event_type: str
    recipient_masked: str
    status: DeliveryStatus
    template: str
    language: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    segments: int | None
    last_error: str | None
    sending_since: datetime | None
    created_at: datetime
    completed_at: datetime | None
    outcome_published_at: datetime | None
    # Set while the delivery waits for the scheduler (deferred, or retried later).
    next_attempt_at: datetime | None = None
    urgent: bool = False
    deferred_reason: str | None = None
    # What the scheduler needs to send without the event: the text and the sealed address.
    body: str | None = None
    recipient_sealed: str | None = None

    @property
    def state(self) -> DeliveryState:
        return DeliveryState(
            status=self.status,
            in_doubt=self.sending_since is not None,
            outcome_published=self.outcome_published_at is not None,
            deferred=self.next_attempt_at is not None,
        )


def _delivery(row: asyncpg.Record) -> Delivery:
    return Delivery(
        key=LedgerKey(row["event_id"], row["channel"], row["recipient_hash"]),
        application_code=row["application_code"],
        cause_event_type=row["cause_event_type"],
        recipient_masked=row["recipient_masked"],
        status=DeliveryStatus(row["status"]),
        template=row["template"],
        language=row["language"],
        attempts=row["attempts"],
        provider=row["provider"],
        provider_message_id=row["provider_message_id"],
        segments=row["segments"],
        last_error=row["last_error"],
        sending_since=row["sending_since"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        outcome_published_at=row["outcome_published_at"],
        next_attempt_at=row["next_attempt_at"],
        urgent=row["urgent"],
        deferred_reason=row["deferred_reason"],
        body=row["payload"],
        recipient_sealed=row["recipient_sealed"],
    )


# Sends to one number on one channel that count against the rate limit: settled as sent
# (or possibly sent) recently, or in flight now. The delivery itself is left out.
_RECENT_SENDS = """
    SELECT coalesce(completed_at, sending_since) AS at FROM notify.deliveries
    WHERE channel = $1 AND recipient_hash = $2
      AND coalesce(completed_at, sending_since) > $3
      AND (status IN ('sent', 'possibly_sent')
           OR (status = 'pending' AND sending_since IS NOT NULL))
      AND NOT (event_id = $4 AND channel = $1 AND recipient_hash = $2)
"""


def _args(key: LedgerKey) -> tuple[str, str, str]:
    return key.event_id, key.channel, key.recipient_hash


async def _begin_or_defer(
    conn: asyncpg.Connection,
    key: LedgerKey,
    deferral: Deferral | None,
    now: datetime,
    lease_until: datetime | None,
    body: str,
    recipient_sealed: str,
) -> None:
    """Mark the pending delivery as being sent now, or keep it (with what a later send
    needs) for the time `deferral` names."""
    if deferral is not None:
        await conn.execute(
            """
            UPDATE notify.deliveries
            SET next_attempt_at = $4, deferred_reason = $5, payload = $6,
                recipient_sealed = $7
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3
              AND status = 'pending'
            """,
            *_args(key),
            deferral.until,
            deferral.reason.value,
            body,
            recipient_sealed,
        )
        return
    await conn.execute(
        """
        UPDATE notify.deliveries
        SET sending_since = $4, attempts = attempts + 1, next_attempt_at = $5,
            deferred_reason = NULL
        WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3
          AND status = 'pending'
        """,
        *_args(key),
        now,
        lease_until,
    )


@dataclass(frozen=True, slots=True)
class AgentContact:
    """An agent who hears the applicant's notices, until `valid_until` (inclusive)."""

    mobile_sealed: str
    valid_until: date


def competent_region_of(code: str) -> str:
    """SQL of the division competent for the application `code` (a column or a parameter):
    what its submission said, else its code's first six digits (a submission from before
    regions were recorded, or one that has not come)."""
    return (
        "coalesce((SELECT c.competent_region FROM notify.contacts c"  # noqa: S608 - constants
        f" WHERE c.application_code = {code}), left({code}, 6))"
    )


class DeliveryLedger:
    """Ledger rows move pending → sent | failed | possibly_sent, never back.

    The steps every message takes (open, start the send, mark it sent and published) and
    the agent lookup are group-committed (batching.py): the messages handled at once
    share one statement per step instead of a round trip each."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._open = Coalescer(lambda items: open_many(pool, items), key=_opening_key)
        self._begin = Coalescer(lambda items: begin_many(pool, items), key=_start_key)
        self._mark_sent = Coalescer(lambda items: mark_sent_many(pool, items), key=_sent_key)
        self._mark_published = Coalescer(lambda keys: mark_published_many(pool, keys), key=itself)
        self._agents = Coalescer(lambda codes: _agent_contacts(pool, codes), key=itself)
        self._contacts = Coalescer(lambda items: _record_contacts(pool, items), key=first)

    async def open(
        self,
        key: LedgerKey,
        *,
        application_code: str,
        cause_event_type: str,
        recipient_masked: str,
        template: str,
        language: str,
        urgent: bool = False,
    ) -> Delivery:
        """The delivery's row: inserted as pending, or the one an earlier delivery wrote."""
        delivery, _ = await self.open_to_send(
            key,
            application_code=application_code,
            cause_event_type=cause_event_type,
            recipient_masked=recipient_masked,
            template=template,
            language=language,
            urgent=urgent,
        )
        return delivery

    async def open_to_send(
        self,
        key: LedgerKey,
        *,
        application_code: str,
        cause_event_type: str,
        recipient_masked: str,
        template: str,
        language: str,
        urgent: bool = False,
        sending_since: datetime | None = None,
    ) -> tuple[Delivery, bool]:
        """As `open`, and with `sending_since` (a send nothing can defer) a new row is
        written as being sent from then, as `begin_send_within_policy` would mark it:
        (the row, True) when the caller is to send it now. An existing row is returned as
        it is, with False: what to do about it is `next_action`'s to say."""
        row, inserted = await self._open(
            Opening(
                key,
                application_code,
                cause_event_type,
                recipient_masked,
                template,
                language,
                urgent,
                sending_since,
            )
        )
        return _delivery(row), inserted and sending_since is not None

    async def get(self, key: LedgerKey) -> Delivery:
        row = await self._pool.fetchrow(
            "SELECT * FROM notify.deliveries"
            " WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3",
            *_args(key),
        )
        assert row is not None  # callers only ask for rows they opened; none is deleted
        return _delivery(row)

    async def begin_send_within_policy(
        self,
        key: LedgerKey,
        *,
        now: datetime,
        policy: DeliveryPolicy,
        urgent: bool,
        body: str,
        recipient_sealed: str,
        lease_until: datetime | None = None,
    ) -> Deferral | None:
        """Start a send if quiet hours and the recipient's rate limit allow it now (None);
        else defer the delivery to the scheduler, with what it needs to send it later.

        A transaction-scoped advisory lock per (channel, recipient) makes the count and
        the start one step, so two senders cannot both take the last place in the hour.
        Without a rate limit on the channel (the default) there is nothing to count: one
        statement, no lock. `lease_until` (the scheduler's) makes a send that crashes due
        again after it."""
        if not policy.counts_recent(key.channel, urgent=urgent):
            deferral = policy.deferral(now, channel=key.channel, urgent=urgent, recent=())
            if deferral is None:
                await self._begin(SendStart(key, now, lease_until))
                return None
            async with self._pool.acquire() as conn:
                await _begin_or_defer(conn, key, deferral, now, lease_until, body, recipient_sealed)
            return deferral
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                f"notify:{key.channel}:{key.recipient_hash}",
            )
            recent = await conn.fetch(
                _RECENT_SENDS, key.channel, key.recipient_hash, now - HOUR, key.event_id
            )
            deferral = policy.deferral(
                now, channel=key.channel, urgent=urgent, recent=[r["at"] for r in recent]
            )
            await _begin_or_defer(conn, key, deferral, now, lease_until, body, recipient_sealed)
            return deferral

    async def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Due messages the scheduler should (try to) send, each pushed `lease` into the
        future so that two schedulers never take the same one, and one that crashes
        mid-send is due again after the lease (then in doubt)."""
        rows = await self._pool.fetch(
            """
            UPDATE notify.deliveries d SET next_attempt_at = $1::timestamptz + $3::interval
            WHERE d.id IN (
                SELECT id FROM notify.deliveries
                WHERE channel IN ('sms', 'app') AND status = 'pending'
                  AND next_attempt_at <= $1
                ORDER BY next_attempt_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            RETURNING d.*
            """,
            now,
            limit,
            lease,
        )
        return [_delivery(row) for row in rows]

    async def retry_later(
        self,
        key: LedgerKey,
        *,
        at: datetime,
        error: str,
        not_sent: bool,
        body: str,
        recipient_sealed: str,
    ) -> None:
        """A temporary failure: the scheduler tries again at `at`. Unless the provider is
        sure nothing went out, the send stays in doubt (sending_since kept)."""
        await self._pool.execute(
            """
            UPDATE notify.deliveries
            SET next_attempt_at = $4, last_error = $5, payload = $7, recipient_sealed = $8,
                sending_since = CASE WHEN $6 THEN NULL ELSE sending_since END
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            """,
            *_args(key),
            at,
            error,
            not_sent,
            body,
            recipient_sealed,
        )

    async def unpublished(self, *, settled_before: datetime, limit: int) -> list[Delivery]:
        """Settled messages whose NotificationSent never went out (a crash between the
        two): the scheduler publishes them, so the timeline has no gap."""
        rows = await self._pool.fetch(
            """
            SELECT * FROM notify.deliveries
            WHERE outcome_published_at IS NULL AND status <> 'pending'
              AND channel IN ('sms', 'app') AND completed_at < $1
            ORDER BY completed_at
            LIMIT $2
            """,
            settled_before,
            limit,
        )
        return [_delivery(row) for row in rows]

    async def record_contact(
        self,
        application_code: str,
        contact: application_pb2.Contact,
        competent_region: str = "",
    ) -> None:
        """The applicant's contact as submitted (the mobile stays sealed), and the
        division competent for the application; the submissions handled at once share
        one statement."""
        await self._contacts((application_code, contact, competent_region))

    async def region_of(self, application_code: str) -> str:
        """The division competent for an application (competent_region_of)."""
        return await self._pool.fetchval(
            f"SELECT {competent_region_of('$1::text')}",
            application_code,
        )

    async def record_agent_contact(
        self, application_code: str, agent: application_pb2.Agent
    ) -> None:
        """An agent authorised to receive notifications (the mobile stays sealed)."""
        await self._pool.execute(
            """
            INSERT INTO notify.agent_contacts (application_code, mobile_sealed, mobile_masked,
                valid_until)
            VALUES ($1, $2, $3, $4) ON CONFLICT (application_code) DO NOTHING
            """,
            application_code,
            agent.mobile.sealed,
            agent.mobile.masked,
            date.fromisoformat(agent.authorisation.valid_until),
        )

    async def agent_contact_of(self, application_code: str) -> AgentContact | None:
        return await self._agents(application_code)

    async def contact_of(self, application_code: str) -> application_pb2.Contact | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM notify.contacts WHERE application_code = $1", application_code
        )
        if row is None:
            return None
        return application_pb2.Contact(
            mobile=application_pb2.SealedText(
                sealed=row["mobile_sealed"], masked=row["mobile_masked"]
            ),
            channels=list(row["channels"]),
            language=row["language"],
        )

    async def begin_send(self, key: LedgerKey) -> None:
        """From here until a result is recorded, the send is in doubt."""
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET sending_since = now(), attempts = attempts + 1
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            """,
            *_args(key),
        )

    async def mark_sent(
        self,
        key: LedgerKey,
        *,
        provider: str,
        provider_message_id: str,
        segments: int,
        at: datetime | None = None,
    ) -> Delivery:
        # Also from possibly_sent: a late confirmation settles the doubt. Settled: what
        # only the scheduler needed (the sealed address) is dropped (ledger_batches.py).
        row = await self._mark_sent(Sent(key, provider, provider_message_id, segments, at))
        return _delivery(row)

    async def mark_failed(
        self, key: LedgerKey, *, provider: str, error: str, at: datetime | None = None
    ) -> Delivery:
        row = await self._pool.fetchrow(
            """
            UPDATE notify.deliveries
            SET status = 'failed', provider = $4, last_error = $5, sending_since = NULL,
                completed_at = coalesce($6, now()),
                next_attempt_at = NULL, deferred_reason = NULL, recipient_sealed = NULL
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            RETURNING *
            """,
            *_args(key),
            provider,
            error,
            at,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def mark_possibly_sent(
        self, key: LedgerKey, *, provider: str, at: datetime | None = None
    ) -> Delivery:
        row = await self._pool.fetchrow(
            """
            UPDATE notify.deliveries
            SET status = 'possibly_sent', provider = $4, completed_at = coalesce($5, now()),
                next_attempt_at = NULL, deferred_reason = NULL, recipient_sealed = NULL
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            RETURNING *
            """,
            *_args(key),
            provider,
            at,
        )
        return _delivery(row) if row is not None else await self.get(key)

    async def release(self, key: LedgerKey, *, error: str) -> None:
        """The provider is sure nothing went out: the next attempt may send freely."""
        await self._pool.execute(
            """
            UPDATE notify.deliveries SET sending_since = NULL, last_error = $4
            WHERE event_id = $1 AND channel = $2 AND recipient_hash = $3 AND status = 'pending'
            """,
            *_args(key),
            error,
        )

    async def mark_published(self, key: LedgerKey) -> None:
        await self._mark_published(key)

    async def for_application(self, application_code: str) -> list[dict[str, Any]]:
        """Deliveries of an application with the local provider's copy of each message."""
        rows = await self._pool.fetch(
            """
            SELECT d.event_id, d.channel, d.cause_event_type, d.recipient_masked, d.status,
                   d.template, d.language, d.attempts, d.provider, d.provider_message_id,
                   d.segments, d.last_error, d.created_at, d.completed_at,
                   m.body
            FROM notify.deliveries d
            LEFT JOIN notify.local_messages m
                   ON d.provider = 'local' AND m.id::text = d.provider_message_id
            WHERE d.application_code = $1
            ORDER BY d.created_at, d.event_id, d.channel
            """,
            application_code,
        )
        return [dict(row) for row in rows]


def _opening_key(opening: Opening) -> LedgerKey:
    return opening.key


def _start_key(start: SendStart) -> LedgerKey:
    return start.key


def _sent_key(sent: Sent) -> LedgerKey:
    return sent.key


ContactOf = tuple[str, application_pb2.Contact, str]


async def _record_contacts(pool: asyncpg.Pool, items: Sequence[ContactOf]) -> list[None]:
    # channels is text[] per row: unnest would flatten a two-dimensional array, so each
    # row's channels travel as a JSON array.
    await pool.execute(
        """
        INSERT INTO notify.contacts (application_code, mobile_sealed, mobile_masked,
            channels, language, competent_region)
        SELECT code, sealed, masked,
               ARRAY(SELECT jsonb_array_elements_text(channels::jsonb)), language,
               nullif(region, '')
          FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
            AS u(code, sealed, masked, channels, language, region)
        ON CONFLICT (application_code) DO NOTHING
        """,
        [code for code, _, _ in items],
        [contact.mobile.sealed for _, contact, _ in items],
        [contact.mobile.masked for _, contact, _ in items],
        [json.dumps(list(contact.channels)) for _, contact, _ in items],
        [contact.language for _, contact, _ in items],
        [region for _, _, region in items],
    )
    return [None] * len(items)


async def _agent_contacts(pool: asyncpg.Pool, codes: Sequence[str]) -> list[AgentContact | None]:
    """The agent of each application, if it has one that hears its notices."""
    rows = await pool.fetch(
        "SELECT application_code, mobile_sealed, valid_until FROM notify.agent_contacts"
        " WHERE application_code = ANY($1::text[])",
        list(codes),
    )
    found = {row["application_code"]: row for row in rows}
    return [
        AgentContact(row["mobile_sealed"], row["valid_until"])
        if (row := found.get(code)) is not None
        else None
        for code in codes
    ]
