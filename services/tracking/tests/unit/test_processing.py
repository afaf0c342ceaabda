from dataclasses import replace

import asyncpg
import pytest
from opentelemetry import trace

from onceonly.events.v1 import approval_pb2
from onceonly.platform.deferral import Deferrals, MemoryDeferredStore
from onceonly.platform.envelope import Envelope
from onceonly.platform.telemetry import configure_telemetry
from onceonly.tracking.causes import awaited_cause
from onceonly.tracking.errors import CauseNotRecorded, UnprocessableEvent
from onceonly.tracking.processing import (
    Inbound,
    Outcome,
    TimelineRecorder,
    decode,
    event_id,
    normalise_headers,
)


class FakeTimeline:
    """Records appends by event id, failing the first `failures` calls."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.entries: dict[str, tuple[Envelope, str, int, int]] = {}
        self.calls = 0

    async def append(self, envelope, *, topic, partition, offset, message=None) -> bool:
        self.calls += 1
        assert message is not None  # the recorder passes the decoded event on
        if self.failures:
            raise self.failures.pop(0)
        if envelope.id in self.entries:
            return False
        self.entries[envelope.id] = (envelope, topic, partition, offset)
        return True


class FakeDeadLetters:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.parked: list[tuple[Inbound, str]] = []

    async def park(self, record: Inbound, reason: str) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("broker unavailable")
        self.parked.append((record, reason))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make(timeline: FakeTimeline, dlq: FakeDeadLetters, sleeps: Sleeps) -> TimelineRecorder:
    return TimelineRecorder(
        append=timeline.append, park=dlq.park, retry_initial=0.1, retry_max=0.4, sleep=sleeps
    )


def record_of(envelope: Envelope, offset: int = 0) -> Inbound:
    return Inbound(
        topic="t.approval-events.v1",
        partition=1,
        offset=offset,
        key=envelope.subject.encode(),
        value=envelope.data,
        headers=envelope.headers(),
    )


async def test_records_once_and_ignores_redelivery(events) -> None:
    timeline, dlq, sleeps = FakeTimeline(), FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    code = events.code()
    envelope = events.envelope(events.task_started(code), code)

    assert await recorder.process(record_of(envelope, 7)) == Outcome.RECORDED
    assert await recorder.process(record_of(envelope, 9)) == Outcome.DUPLICATE
    stored, topic, partition, offset = timeline.entries[envelope.id]
    assert (stored.subject, topic, partition, offset) == (code, "t.approval-events.v1", 1, 7)
    assert recorder.counts == {"recorded": 1, "duplicate": 1, "parked": 0, "deferred": 0}
    assert dlq.parked == []


@pytest.mark.parametrize(
    ("headers", "value", "reason"),
    [
        ([], b"\x08\x01", "missing CloudEvents headers"),
        ([("ce_id", b"\xff\xfe"), ("junk", b"")], b"", "missing CloudEvents headers"),
    ],
)
async def test_messages_without_an_envelope_are_parked(events, headers, value, reason) -> None:
    timeline, dlq, sleeps = FakeTimeline(), FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    poison = Inbound(topic="t", partition=0, offset=3, key=None, value=value, headers=headers)
    assert await recorder.process(poison) == Outcome.PARKED
    assert dlq.parked[0][0] is poison
    assert reason in dlq.parked[0][1]
    assert timeline.calls == 0


async def test_unknown_types_bodies_and_times_are_parked(events) -> None:
    timeline, dlq, sleeps = FakeTimeline(), FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    code = events.code()
    good = events.envelope(events.task_started(code), code)

    def with_header(name: str, value: bytes) -> Inbound:
        headers = [(k, v) for k, v in good.headers() if k != name] + [(name, value)]
        return Inbound(topic="t", partition=0, offset=1, key=None, value=good.data, headers=headers)

    unknown = with_header("ce_type", b"onceonly.events.v1.NoSuchEvent")
    bad_time = with_header("ce_time", b"yesterday")
    bad_version = with_header("ce_specversion", b"0.3")
    garbage_body = Inbound(
        topic="t", partition=0, offset=2, key=None, value=b"\xff\xff\xff", headers=good.headers()
    )
    other_code = with_header("ce_subject", b"SOMEONE-ELSE")
    for poison in (unknown, bad_time, bad_version, garbage_body, other_code):
        assert await recorder.process(poison) == Outcome.PARKED
    reasons = [reason for _, reason in dlq.parked]
    assert "UnknownEventType" in reasons[0]
    assert "ce_time" in reasons[1]
    assert "ce_specversion" in reasons[2]
    assert "DecodeError" in reasons[3]
    assert "differs from the event's application code" in reasons[4]
    assert timeline.calls == 0


async def test_postgres_errors_are_retried_with_backoff_never_skipped(events) -> None:
    failures = [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection lost"),
        OSError("connection refused"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock"),
        OSError("connection refused"),
    ]
    timeline, dlq, sleeps = FakeTimeline(failures), FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)

    assert await recorder.process(record_of(envelope)) == Outcome.RECORDED
    assert timeline.calls == 5
    assert sleeps.delays == [0.1, 0.2, 0.4, 0.4]
    assert recorder.retries == 4
    assert envelope.id in timeline.entries


async def test_an_unrecordable_event_found_by_the_store_is_parked(events) -> None:
    timeline = FakeTimeline([UnprocessableEvent("event text contains NUL characters")])
    dlq, sleeps = FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    assert await recorder.process(record_of(envelope)) == Outcome.PARKED
    assert dlq.parked[0][1] == "event text contains NUL characters"


async def test_parking_is_retried_until_the_dead_letter_is_written() -> None:
    timeline, dlq, sleeps = FakeTimeline(), FakeDeadLetters(failures=2), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    poison = Inbound(topic="t", partition=0, offset=0, key=b"k", value=b"x", headers=[])
    assert await recorder.process(poison) == Outcome.PARKED
    assert len(dlq.parked) == 1
    assert sleeps.delays == [0.1, 0.2]


def test_decode_refuses_values_postgres_cannot_store(events) -> None:
    code = events.code()
    message = approval_pb2.TaskStarted(department_code="tax")  # no application code inside
    envelope = events.envelope(message, code)
    headers = [(k, v) for k, v in envelope.headers() if k != "ce_id"]
    for bad_id in (b"a\x00b", b"x" * 201):
        record = Inbound(
            topic="t",
            partition=0,
            offset=0,
            key=None,
            value=envelope.data,
            headers=[*headers, ("ce_id", bad_id)],
        )
        with pytest.raises(UnprocessableEvent, match="ce_id"):
            decode(record)
    decoded, decoded_message = decode(record_of(envelope))
    assert decoded.id == envelope.id
    assert decoded_message == message


def test_normalise_headers_accepts_every_shape() -> None:
    assert normalise_headers(None) == []
    assert normalise_headers({"a": b"1", "b": None}) == [("a", b"1"), ("b", b"")]
    assert normalise_headers([("a", "text"), (b"k", bytearray(b"v")), ("n", 5), "junk"]) == [
        ("a", b"text"),
        ("k", b"v"),
        ("n", b""),
    ]


async def test_append_runs_inside_the_message_trace_context(events) -> None:
    configure_telemetry("tracking-unit-test")  # a recording SDK provider, once per process
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    code = events.code()
    envelope = events.envelope(events.submitted(code), code)
    envelope = replace(envelope, traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    seen: list[str] = []

    async def append(envelope, **_: object) -> bool:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        return True

    recorder = TimelineRecorder(append=append, park=FakeDeadLetters().park)
    assert await recorder.process(record_of(envelope)) == Outcome.RECORDED
    assert seen == [trace_id]


def test_event_id_reads_the_id_that_decode_finds_without_the_body(events) -> None:
    code = events.code()
    envelope = events.envelope(events.task_started(code), code)
    record = record_of(envelope)
    assert event_id(record) == decode(record)[0].id == envelope.id
    # Headers only: a body that no longer decodes still gives the id.
    assert event_id(replace(record, value=b"\xff\xff")) == envelope.id
    # A repeated header: the last one, as Envelope.from_kafka takes it.
    repeated = replace(record, headers=[*record.headers, ("ce_id", b"later")])
    assert event_id(repeated) == decode(repeated)[0].id == "later"
    assert event_id(replace(record, headers=[h for h in record.headers if h[0] != "ce_id"])) is None


class CausalTimeline(FakeTimeline):
    """Refuses a notification whose cause is not recorded, as the store does."""

    async def append(self, envelope, *, topic, partition, offset, message=None) -> bool:
        cause = awaited_cause(message)
        if cause is not None and cause not in self.entries:
            raise CauseNotRecorded(envelope.subject, cause)
        return await super().append(
            envelope, topic=topic, partition=partition, offset=offset, message=message
        )


def outcome_of(envelope: Envelope, offset: int) -> Inbound:
    return replace(record_of(envelope, offset), topic="t.notification-outcomes.v1")


async def test_an_effect_before_its_cause_waits_aside_and_its_partition_behind_it(events) -> None:
    timeline, dlq, sleeps = CausalTimeline(), FakeDeadLetters(), Sleeps()
    recorder = make(timeline, dlq, sleeps)
    store = MemoryDeferredStore()
    recorder.deferrals = Deferrals(store, "tracking-unit")
    code = events.code()
    cause = events.envelope(events.completed(code), code)
    notice = events.envelope(events.notification(code, cause=cause.id), code)
    second = events.envelope(events.notification(code), code)  # names no cause

    assert await recorder.process(outcome_of(notice, 1)) == Outcome.DEFERRED
    # Behind the waiting one in its partition, although it could be recorded.
    assert await recorder.process(outcome_of(second, 2)) == Outcome.DEFERRED
    assert await recorder.process(record_of(cause, 3)) == Outcome.RECORDED
    waiting = await store.of_key("tracking-unit", code.encode())
    assert [(r.offset, r.waiting_for) for r in waiting] == [
        (1, f"event {cause.id} of {code} to be recorded first"),
        (2, "an earlier deferred event of its partition"),
    ]
    # Tried again (as the agent does after the cause): recorded now, not counted twice.
    assert await recorder.process(outcome_of(notice, 1), released=True) == Outcome.RECORDED
    assert list(timeline.entries) == [cause.id, notice.id]
    assert recorder.counts == {"recorded": 2, "duplicate": 0, "parked": 0, "deferred": 2}
    assert sleeps.delays == []  # no retry in place
