"""Exported timelines and checkpoints, and their verification offline: pure, no I/O.

An exported timeline holds every entry as the hash covers it, with the event's bytes
replaced by their sha256 (the hash covers only the digest; the bytes hold sealed
personal data that an outside verifier has no need of). An exported checkpoint holds
the signed bytes, the signature and one application's inclusion proof. With the
published public keys alone, anyone can then tell: intact (and up to which entry the
checkpoint anchors it), tampered at entry N, or not covered by the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from onceonly.platform.elicence_signatures import PublishedKeys
from onceonly.tracking import chain
from onceonly.tracking.checkpoint import (
    AnchorState,
    CheckpointInvalid,
    Coverage,
    SignedCheckpoint,
    check_anchor,
    open_checkpoint,
)

TIMELINE_FORMAT = "onceonly.timeline-export.v1"
CHECKPOINT_FORMAT = "onceonly.checkpoint-export.v1"


def export_timeline(application_code: str, entries: Sequence[chain.ChainEntry]) -> dict[str, Any]:
    """The export of a timeline read from the store (entries in recorded order)."""
    return {
        "format": TIMELINE_FORMAT,
        "application_code": application_code,
        "entries": [_entry_json(entry) for entry in entries],
    }


def _entry_json(entry: chain.ChainEntry) -> dict[str, Any]:
    shown = entry.shown
    return {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "type": entry.ce_type,
        "source": entry.ce_source,
        "time": chain.canonical_time(entry.ce_time),
        "data_sha256": entry.digest(),
        "summary": dict(shown.summary) if shown else None,
        "topic": shown.topic if shown else None,
        "partition": shown.partition if shown else None,
        "offset": shown.offset if shown else None,
        "recorded_at": chain.canonical_time(shown.recorded_at) if shown else None,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "chain_version": entry.version,
    }


def read_timeline(document: Mapping[str, Any]) -> tuple[str, list[chain.ChainEntry]]:
    """The application code and entries of an export; ValueError naming what is wrong."""
    if not isinstance(document, Mapping) or document.get("format") != TIMELINE_FORMAT:
        raise ValueError(f"not a timeline export ({TIMELINE_FORMAT})")
    code = document.get("application_code")
    items = document.get("entries")
    if not isinstance(code, str) or not isinstance(items, list):
        raise ValueError("a timeline export has application_code and entries")
    entries = []
    for position, item in enumerate(items, start=1):
        try:
            entries.append(_entry(code, item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"entry {position} of the export is malformed ({exc})") from None
    return code, entries


def _entry(code: str, item: Mapping[str, Any]) -> chain.ChainEntry:
    shown = None
    if item.get("summary") is not None:
        shown = chain.Shown(
            summary=dict(item["summary"]),
            topic=str(item["topic"]),
            partition=int(item["partition"]),
            offset=int(item["offset"]),
            recorded_at=datetime.fromisoformat(item["recorded_at"]),
        )
    return chain.ChainEntry(
        application_code=code,
        seq=int(item["seq"]),
        event_id=str(item["event_id"]),
        ce_type=str(item["type"]),
        ce_source=str(item["source"]),
        ce_time=datetime.fromisoformat(item["time"]),
        data=b"",
        data_sha256=str(item["data_sha256"]),
        prev_hash=str(item["prev_hash"]),
        hash=str(item["hash"]),
        shown=shown,
        version=int(item["chain_version"]),
    )


def export_checkpoint(signed: SignedCheckpoint, coverage: Coverage | None) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "checkpoint": signed.to_json(),
        "coverage": coverage.to_json() if coverage else None,
    }


def read_checkpoint(document: Mapping[str, Any]) -> tuple[SignedCheckpoint, Coverage | None]:
    if not isinstance(document, Mapping) or document.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a checkpoint export ({CHECKPOINT_FORMAT})")
    signed = SignedCheckpoint.from_json(document.get("checkpoint") or {})
    found = document.get("coverage")
    return signed, Coverage.from_json(found) if found is not None else None


class Verdict(StrEnum):
    INTACT = "intact"
    TAMPERED = "tampered"
    NOT_COVERED = "not_covered"
    NOT_GENUINE = "not_genuine"  # the checkpoint or its proof does not hold


@dataclass(frozen=True, slots=True)
class OfflineResult:
    verdict: Verdict
    reason: str
    entry: int | None = None  # where a tampering shows
    anchored_seq: int | None = None

    def line(self) -> str:
        if self.verdict is Verdict.TAMPERED:
            return f"tampered at entry {self.entry}: {self.reason}"
        return f"{self.verdict.value.replace('_', ' ')}: {self.reason}"


def verify_offline(
    timeline: Mapping[str, Any], checkpoint: Mapping[str, Any], keys: PublishedKeys
) -> OfflineResult:
    """An exported timeline against an exported checkpoint, with the published keys.

    The chain is checked link by link first (a change shows at its entry), then the
    entry at the anchored seq against the signed head (a chain rebuilt whole shows there).
    """
    code, entries = read_timeline(timeline)
    signed, coverage = read_checkpoint(checkpoint)
    try:
        payload = open_checkpoint(signed, keys)
    except CheckpointInvalid as exc:
        return OfflineResult(Verdict.NOT_GENUINE, f"the checkpoint is not genuine: {exc}")
    broken = chain.verify(entries)
    if broken is not None:
        return OfflineResult(Verdict.TAMPERED, broken.reason, entry=broken.seq)
    if coverage is not None and coverage.head.application_code != code:
        return OfflineResult(
            Verdict.NOT_COVERED,
            f"the checkpoint export proves {coverage.head.application_code}, not {code}",
        )
    if coverage is not None and coverage.head.seq > len(entries):
        # Not evidence of tampering offline: the export may predate the checkpoint.
        return OfflineResult(
            Verdict.NOT_COVERED,
            f"the export ends at entry {len(entries)}, before the head checkpoint"
            f" {payload.number} signed (entry {coverage.head.seq}): export the timeline again",
        )
    anchor = check_anchor(entries, application_code=code, checkpoint=payload, coverage=coverage)
    if anchor.state is AnchorState.CONTRADICTED:
        return OfflineResult(
            Verdict.TAMPERED,
            anchor.reason,
            entry=anchor.broken_seq,
            anchored_seq=anchor.anchored_seq,
        )
    if anchor.state is AnchorState.NOT_COVERED:
        return OfflineResult(Verdict.NOT_COVERED, anchor.reason)
    if anchor.state is AnchorState.UNVERIFIABLE:
        return OfflineResult(Verdict.NOT_GENUINE, anchor.reason)
    return OfflineResult(Verdict.INTACT, anchor.reason, anchored_seq=anchor.anchored_seq)
