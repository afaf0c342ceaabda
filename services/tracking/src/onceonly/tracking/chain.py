"""The hash chain of an application's timeline (全程留痕), tamper-evident.

Each entry's hash covers the previous entry's hash and the entry's own content, so
changing, removing or reordering any recorded event breaks every later link, and
`verify` names the first entry where the chain no longer holds. Pure: no I/O.

The encoding is versioned by a domain tag and length-prefixes every field, so that two
different entries can never encode to the same bytes (no ambiguity at field borders).
Version 1 covers the event (its bytes, id, type, source, time) and its place; version 2
also covers everything a reader is shown of the entry: its summary, where it was read
from (topic, partition, offset) and when it was recorded, so that changing any stored
field of the row breaks the chain at that entry. Rows keep the version they were
written with (`chain_version`), and each is recomputed under its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from onceonly.platform.canonical_json import canonical_json

GENESIS_HASH = "0" * 64
_DOMAIN_TAGS = {1: b"onceonly.timeline.v1", 2: b"onceonly.timeline.v2"}
# What new entries are written with.
CURRENT_VERSION = 2


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One timeline entry as far as the chain is concerned."""

    application_code: str
    seq: int
    event_id: str
    ce_type: str
    ce_source: str
    ce_time: datetime
    data: bytes
    prev_hash: str
    hash: str
    # Version 2: what the reader is shown besides the event (None under version 1).
    shown: Shown | None = None
    version: int = 1
    # The sha256 (hex) of `data`, when the entry comes without the event's bytes (an
    # exported timeline: the hash covers only the digest, and the bytes hold sealed
    # personal data that an outside verifier has no need of).
    data_sha256: str | None = None

    def digest(self) -> str:
        return self.data_sha256 if self.data_sha256 is not None else data_digest(self.data)


@dataclass(frozen=True, slots=True)
class Shown:
    """The fields of a timeline row that are not the event itself but are shown."""

    summary: Mapping[str, Any]
    topic: str
    partition: int
    offset: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """The first entry at which the chain does not hold, and why."""

    seq: int
    reason: str


def canonical_time(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds: what Postgres gives back for a timestamptz.

    A naive time is taken as UTC, as the database would store it.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def data_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _field(raw: bytes) -> bytes:
    return len(raw).to_bytes(8, "big") + raw


def canonical_summary(summary: Mapping[str, Any]) -> str:
    """The summary as the hash sees it: sorted keys, no spaces, UTF-8 as is (jsonb gives
    keys back in its own order and spacing; the values are the same)."""
    return canonical_json(summary)


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    event_id: str,
    ce_type: str,
    ce_source: str,
    ce_time: datetime,
    application_code: str,
    data: bytes,
    shown: Shown | None = None,
    version: int = 1,
    data_sha256: str | None = None,
    summary_text: str | None = None,
) -> str:
    """The sha256 (hex) of an entry's canonical encoding under `version` (`data_sha256`:
    the digest of `data`, given instead of the bytes; `summary_text`: the shown
    summary's `canonical_summary`, given when the caller has it already)."""
    parts = [
        prev_hash.encode(),
        str(seq).encode(),
        event_id.encode(),
        ce_type.encode(),
        ce_source.encode(),
        canonical_time(ce_time).encode(),
        application_code.encode(),
        (data_sha256 if data_sha256 is not None else data_digest(data)).encode(),
    ]
    if version == 2:
        if shown is None:
            raise ValueError("a version 2 entry needs what it shows")
        parts += [
            (
                summary_text if summary_text is not None else canonical_summary(shown.summary)
            ).encode(),
            shown.topic.encode(),
            str(shown.partition).encode(),
            str(shown.offset).encode(),
            canonical_time(shown.recorded_at).encode(),
        ]
    elif version != 1:
        raise ValueError(f"unknown chain version {version}")
    return hashlib.sha256(
        _DOMAIN_TAGS[version] + b"".join(_field(part) for part in parts)
    ).hexdigest()


def next_entry(
    *,
    head_seq: int,
    head_hash: str,
    application_code: str,
    event_id: str,
    ce_type: str,
    ce_source: str,
    ce_time: datetime,
    data: bytes,
    shown: Shown | None = None,
    summary_text: str | None = None,
) -> ChainEntry:
    """The entry that follows the head (`head_seq` 0 and GENESIS_HASH for the first),
    under the current version when `shown` is given (version 1 without it;
    `summary_text` as for `entry_hash`)."""
    seq = head_seq + 1
    version = CURRENT_VERSION if shown is not None else 1
    digest = entry_hash(
        prev_hash=head_hash,
        seq=seq,
        event_id=event_id,
        ce_type=ce_type,
        ce_source=ce_source,
        ce_time=ce_time,
        application_code=application_code,
        data=data,
        shown=shown,
        version=version,
        summary_text=summary_text,
    )
    return ChainEntry(
        application_code=application_code,
        seq=seq,
        event_id=event_id,
        ce_type=ce_type,
        ce_source=ce_source,
        ce_time=ce_time,
        data=data,
        prev_hash=head_hash,
        hash=digest,
        shown=shown,
        version=version,
    )


def recompute(entry: ChainEntry) -> str:
    return entry_hash(
        prev_hash=entry.prev_hash,
        seq=entry.seq,
        event_id=entry.event_id,
        ce_type=entry.ce_type,
        ce_source=entry.ce_source,
        ce_time=entry.ce_time,
        application_code=entry.application_code,
        data=entry.data,
        shown=entry.shown,
        version=entry.version,
        data_sha256=entry.data_sha256,
    )


def verify(
    entries: Iterable[ChainEntry], *, head: tuple[int, str] | None = None
) -> BrokenLink | None:
    """The first broken link of a timeline given in recorded order, or None if intact.

    `head` is the (last seq, last hash) the store keeps separately: without it, removing
    the newest entries would leave a shorter chain that is still consistent.
    """
    expected_seq = 1
    previous_hash = GENESIS_HASH
    application_code: str | None = None
    version_seen = 1
    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return BrokenLink(expected_seq, f"entry {expected_seq} is missing")
            return BrokenLink(entry.seq, f"entry {entry.seq} is out of order or repeated")
        if application_code is None:
            application_code = entry.application_code
        elif entry.application_code != application_code:
            return BrokenLink(entry.seq, "entry belongs to another application")
        if entry.prev_hash != previous_hash:
            return BrokenLink(entry.seq, "previous hash does not match the previous entry")
        if entry.version not in _DOMAIN_TAGS or (entry.version == 2 and entry.shown is None):
            return BrokenLink(entry.seq, f"unknown chain version {entry.version}")
        if entry.version < version_seen:
            # A row relabelled to the older version, whose hash covers less.
            return BrokenLink(entry.seq, "chain version goes back to an older one")
        version_seen = entry.version
        if recompute(entry) != entry.hash:
            return BrokenLink(entry.seq, "hash does not match the entry's content")
        previous_hash = entry.hash
        expected_seq += 1
    last_seq = expected_seq - 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_seq:
            return BrokenLink(last_seq + 1, f"entry {last_seq + 1} is missing (head at {head_seq})")
        if head_seq < last_seq:
            return BrokenLink(head_seq + 1, f"entry {head_seq + 1} is beyond the recorded head")
        if head_seq > 0 and head_hash != previous_hash:
            return BrokenLink(last_seq, "hash does not match the recorded head")
    return None
