"""What was looked up for the applicant (授权与数据来源): the shared-data checks the
workflow ran, each with its provenance, read from its ApplicationAccepted events.

Pure: `lookups_of` turns one event into rows; the approval follower stores them
(`lookup_store`) and the API shows them. A check without a time (an event from before
consent and provenance) is not a lookup the applicant can be shown: it is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import Message

from onceonly.events.v1 import approval_pb2


@dataclass(frozen=True, slots=True)
class Lookup:
    check: str
    registry: str
    record_reference: str
    checked_at: datetime
    passed: bool
    code: str
    reason: str
    reason_zh: str
    consent_reference: str


@dataclass(frozen=True, slots=True)
class LookupsOfEvent:
    lookups: tuple[Lookup, ...]
    not_consented: tuple[str, ...]


def lookups_of(message: Message) -> LookupsOfEvent | None:
    """The lookups an approval event reports; None for events that report none."""
    if not isinstance(message, approval_pb2.ApplicationAccepted):
        return None
    lookups = tuple(
        Lookup(
            check=check.check,
            registry=check.registry,
            record_reference=check.record_reference,
            checked_at=check.checked_at.ToDatetime(tzinfo=UTC),
            passed=check.passed,
            code=check.code,
            reason=check.reason,
            reason_zh=check.reason_zh,
            consent_reference=check.consent_reference,
        )
        for check in message.checks
        if check.HasField("checked_at")
    )
    return LookupsOfEvent(lookups, tuple(message.checks_without_consent))
