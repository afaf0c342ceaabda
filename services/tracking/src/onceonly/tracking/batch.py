"""What a batch of one partition's events does to the timelines, decided in memory.

The agent records a partition's events a batch at a time (one transaction, a handful of
statements) instead of one transaction per event. The store locks the chain heads of
the batch's applications and reads, in one go, their heads, their status rows and which
of the batch's event ids and causes are recorded; `plan` then walks the events in
partition order exactly as one append after another would (store.py `_append`):

- an event of a Kafka key and partition that an earlier event of this batch left
  waiting (its cause not recorded) waits behind it, as `Deferrals.is_behind` makes the
  next batch's wait (deferred events released together come from several partitions,
  and one partition's waiting event does not hold back another's);
- an event that can never be recorded is unprocessable (parked; the rest goes on);
- an event whose cause (causes.py) is not on its timeline, nor earlier in the batch,
  waits for it; so does an event of the approval workflow for an empty timeline;
- an event id recorded already, on any timeline or earlier in the batch, is a duplicate;
- any other event is the next entry of its application's chain, and its status is
  folded on top of the previous one.

Pure: no I/O, so every case is tested without Postgres.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message

from onceonly.platform.envelope import Envelope
from onceonly.tracking import chain
from onceonly.tracking.causes import awaited_cause, not_ready
from onceonly.tracking.errors import CauseNotRecorded, SubmissionNotRecorded, UnprocessableEvent
from onceonly.tracking.recordable import unrecordable_reason
from onceonly.tracking.status import ApplicationStatus, apply_event
from onceonly.tracking.summary import summarise


@dataclass(frozen=True, slots=True)
class Pending:
    """One decoded event of the batch, where it was read, and its Kafka key."""

    envelope: Envelope
    message: Message
    topic: str
    partition: int
    offset: int
    key: bytes | None


# A Kafka key within one partition: what a deferred event holds back (a batch read from
# Kafka is one partition's; the deferred events released together come from several).
Place = tuple[bytes | None, str, int]


class Behind(enum.Enum):
    """An event that waits behind an earlier one of its key and partition in the same
    batch."""

    EARLIER_DEFERRED = "an earlier deferred event of its partition"


@dataclass(frozen=True, slots=True)
class Appended:
    """An event recorded by the batch: its chain entry and the status before and after
    (`projection_consistent` as in store.Recorded)."""

    entry: chain.ChainEntry
    message: Message
    summary: dict[str, Any]
    summary_text: str  # chain.canonical_summary(summary), as the row keeps it
    before: ApplicationStatus | None
    after: ApplicationStatus
    projection_consistent: bool


# Per event, in the batch's order: Appended, None (a duplicate), or why it is not
# recorded now (UnprocessableEvent: parked; CauseNotRecorded, SubmissionNotRecorded or
# Behind: deferred).
Result = Appended | None | UnprocessableEvent | CauseNotRecorded | SubmissionNotRecorded | Behind


@dataclass
class Plan:
    results: list[Result]
    # The newest head and status of every application the batch appended to.
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    statuses: dict[str, ApplicationStatus] = field(default_factory=dict)

    @property
    def appended(self) -> list[Appended]:
        return [result for result in self.results if isinstance(result, Appended)]


def causes_of(items: Sequence[Pending]) -> list[str]:
    """The event ids the batch's events wait for (the store reads whether they are
    recorded, with the events' own ids)."""
    return [cause for item in items if (cause := awaited_cause(item.message)) is not None]


def plan(
    items: Sequence[Pending],
    *,
    heads: Mapping[str, tuple[int, str]],
    statuses: Mapping[str, ApplicationStatus | None],
    recorded: Mapping[str, str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Plan:
    """The batch's outcome. `heads`: each application's locked head (0 and GENESIS_HASH
    when new), `statuses` its status row (None when missing), `recorded`: event id ->
    application code of those of the batch's ids and causes already recorded."""
    found = Plan(results=[])
    known = dict(recorded)
    head_of = dict(heads)
    status_of: dict[str, ApplicationStatus | None] = dict(statuses)
    blocked: set[Place] = set()
    for item in items:
        found.results.append(_one(item, head_of, status_of, known, blocked, found, clock))
    return found


def _one(
    item: Pending,
    head_of: dict[str, tuple[int, str]],
    status_of: dict[str, ApplicationStatus | None],
    known: dict[str, str],
    blocked: set[Place],
    found: Plan,
    clock: Callable[[], datetime],
) -> Result:
    envelope, message = item.envelope, item.message
    place = (item.key, item.topic, item.partition)
    if item.key is not None and place in blocked:
        return Behind.EARLIER_DEFERRED
    reason = unrecordable_reason(envelope, message)
    if reason:
        return UnprocessableEvent(reason)
    summary = summarise(message)
    summary_text = chain.canonical_summary(summary)
    # A NUL anywhere in the summary is "\u0000" in its JSON (the text is only searched
    # through when that turns up, since a backslash before "u0000" may be the summary's).
    if "\\u0000" in summary_text and has_nul(summary):
        return UnprocessableEvent("event text contains NUL characters")
    code = envelope.subject
    cause = awaited_cause(message)
    head_seq, head_hash = head_of[code]
    waits = not_ready(
        message, code, head_seq=head_seq, cause_recorded=cause is None or known.get(cause) == code
    )
    if waits is not None:
        if item.key is not None:
            blocked.add(place)
        return waits
    if envelope.id in known:
        return None
    current = status_of.get(code)
    shown = chain.Shown(
        summary=summary,
        topic=item.topic,
        partition=item.partition,
        offset=item.offset,
        recorded_at=clock(),
    )
    entry = chain.next_entry(
        head_seq=head_seq,
        head_hash=head_hash,
        application_code=code,
        event_id=envelope.id,
        ce_type=envelope.type,
        ce_source=envelope.source,
        ce_time=envelope.time,
        data=envelope.data,
        shown=shown,
        summary_text=summary_text,
    )
    after = apply_event(current, application_code=code, message=message, time=aware(envelope.time))
    known[envelope.id] = code
    head_of[code] = (entry.seq, entry.hash)
    status_of[code] = after
    found.heads[code] = head_of[code]
    found.statuses[code] = after
    return Appended(
        entry=entry,
        message=message,
        summary=summary,
        summary_text=summary_text,
        before=current,
        after=after,
        projection_consistent=current is not None or head_seq == 0,
    )


def aware(value: datetime) -> datetime:
    """Naive times are UTC, as the chain's canonical form takes them."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def has_nul(value: Any) -> bool:
    """Whether any text in a summary holds NUL, which jsonb refuses."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False
