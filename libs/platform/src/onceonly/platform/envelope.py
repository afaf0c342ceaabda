"""The event envelope and its CloudEvents binary-mode mapping onto Kafka headers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import envelope_pb2
from onceonly.platform.events import event_type, parse_event
from onceonly.platform.uuids import random_uuid_text

SPECVERSION = "1.0"
_CE_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion", "ce_subject")


class EnvelopeError(ValueError):
    """Kafka headers that do not form a valid CloudEvent."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: CloudEvents attributes plus the protobuf body."""

    id: str
    type: str
    source: str
    subject: str
    data: bytes
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str = ""
    tracestate: str = ""
    # The body once parsed: a consumer validates it, then its handlers read it.
    _parsed: Message | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def application_code(self) -> str:
        return self.subject

    def message(self) -> Message:
        """The event, parsed from `data` on the first call; every later call returns the
        same message, so treat it as read-only."""
        if self._parsed is None:
            object.__setattr__(self, "_parsed", parse_event(self.type, self.data))
        assert self._parsed is not None
        return self._parsed

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers, CloudEvents binary content mode plus W3C trace context."""
        headers = [
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", b"application/protobuf"),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        if self.tracestate:
            headers.append(("tracestate", self.tracestate.encode()))
        return headers

    @classmethod
    def from_kafka(cls, headers: Iterable[tuple[str, bytes]] | None, value: bytes) -> Envelope:
        found = {key: raw.decode("utf-8", "replace") for key, raw in headers or ()}
        missing = [name for name in _CE_HEADERS if not found.get(name)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        if found["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported ce_specversion {found['ce_specversion']!r}")
        try:
            time = datetime.fromisoformat(found["ce_time"])
        except ValueError as exc:
            raise EnvelopeError(f"bad ce_time {found['ce_time']!r}") from exc
        return cls(
            id=found["ce_id"],
            type=found["ce_type"],
            source=found["ce_source"],
            subject=found["ce_subject"],
            data=value,
            time=time,
            traceparent=found.get("traceparent", ""),
            tracestate=found.get("tracestate", ""),
        )

    def to_proto(self) -> envelope_pb2.Envelope:
        ts = Timestamp()
        ts.FromDatetime(self.time)
        return envelope_pb2.Envelope(
            id=self.id,
            type=self.type,
            source=self.source,
            time=ts,
            specversion=SPECVERSION,
            subject=self.subject,
            traceparent=self.traceparent,
            tracestate=self.tracestate,
            data=self.data,
        )


def new_envelope(
    message: Message,
    *,
    source: str,
    application_code: str,
    event_id: str | None = None,
    time: datetime | None = None,
    trace_headers: dict[str, str] | None = None,
) -> Envelope:
    """Wrap an event message; pass `event_id` when retries must reuse the same id."""
    trace_headers = trace_headers or {}
    return Envelope(
        id=event_id or random_uuid_text(),
        type=event_type(message),
        source=source,
        subject=application_code,
        data=message.SerializeToString(deterministic=True),
        time=time or datetime.now(UTC),
        traceparent=trace_headers.get("traceparent", ""),
        tracestate=trace_headers.get("tracestate", ""),
    )


def header_pairs(headers: Sequence[tuple[str, bytes]] | None) -> list[envelope_pb2.Header]:
    return [envelope_pb2.Header(key=k, value=v) for k, v in headers or ()]
