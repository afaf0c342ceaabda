"""What the tracking agents do with each Kafka message, independent of faust.

A message is decoded into an Envelope and its event; one that cannot be (missing or
bad CloudEvents headers, unknown type, undecodable body, unrecordable values) is parked
on the dead-letter topic and processing goes on. A decodable one is appended to its
timeline; when Postgres (or anything else) fails, the append is retried with backoff
until it succeeds: a message is never skipped, and redelivery is harmless because
appends are idempotent by event id.

An event whose cause is not on its timeline yet (causes.py) is deferred with the
recorder's `deferrals` (onceonly.platform.deferral): only its application waits, and it
is recorded right after its cause, or by the periodic sweep.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import structlog
from google.protobuf.message import DecodeError, Message
from opentelemetry import trace

from onceonly.platform.deferral import Deferrals, EventNotReady
from onceonly.platform.envelope import Envelope, EnvelopeError
from onceonly.platform.events import UnknownEventType
from onceonly.platform.retry import retry_forever
from onceonly.platform.telemetry import MessageSpan
from onceonly.tracking.batch import Appended, Behind, Pending, Result
from onceonly.tracking.errors import BatchConflict, UnprocessableEvent
from onceonly.tracking.recordable import unrecordable_reason

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("onceonly.tracking")

CONSUMER_NAME = "tracking"
# The agent process's heartbeat component, read by the API's /health.
AGENT_COMPONENT = "tracking-agent"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Inbound:
    """The parts of a Kafka message tracking needs (the shape of a ConsumerRecord)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def normalise_headers(raw: Any) -> list[tuple[str, bytes]]:
    """Kafka headers as (str, bytes) pairs, whatever shape the client handed over.

    Header values may be null on the wire and clients differ (list of pairs, dict);
    a garbage header must lead to a dead letter, never to a crashed agent.
    """
    if not raw:
        return []
    pairs: Iterable[Any] = raw.items() if isinstance(raw, Mapping) else raw
    result: list[tuple[str, bytes]] = []
    for pair in pairs:
        try:
            key, value = pair
        except (TypeError, ValueError):
            continue
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if value is None:
            value = b""
        elif isinstance(value, str):
            value = value.encode()
        elif not isinstance(value, bytes):
            value = bytes(value) if isinstance(value, bytearray | memoryview) else b""
        result.append((str(key), value))
    return result


def decode(record: Inbound) -> tuple[Envelope, Message]:
    """The envelope and event of a message; raises UnprocessableEvent with the reason."""
    try:
        envelope = Envelope.from_kafka(record.headers, record.value or b"")
        message = envelope.message()
    except (EnvelopeError, UnknownEventType, DecodeError) as exc:
        raise UnprocessableEvent(f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError, UnicodeError) as exc:  # e.g. an impossible ce_time
        raise UnprocessableEvent(f"undecodable message: {type(exc).__name__}: {exc}") from exc
    reason = unrecordable_reason(envelope, message)
    if reason:
        raise UnprocessableEvent(reason)
    return envelope, message


def event_id(record: Inbound) -> str | None:
    """The event id (`ce_id`) of a message from its headers alone, as `decode` reads it
    (the last such header wins), without decoding the body again."""
    found = None
    for key, raw in record.headers:
        if key == "ce_id":
            found = raw.decode("utf-8", "replace")
    return found or None


class Append(Protocol):
    async def __call__(
        self,
        envelope: Envelope,
        *,
        topic: str,
        partition: int,
        offset: int,
        message: Message | None = None,
    ) -> bool: ...


Park = Callable[[Inbound, str], Awaitable[None]]
# Records a batch of one partition's decoded events in one transaction (batch.py).
AppendBatch = Callable[[Sequence[Pending]], Awaitable[list[Result]]]


class Outcome(enum.StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    PARKED = "parked"
    DEFERRED = "deferred"  # waits aside for its cause; the offset may be acked


class TimelineRecorder:
    """Processes messages one at a time (`process`) or a partition's batch at a time
    (`process_many`); both return only once it is safe to ack."""

    def __init__(
        self,
        *,
        append: Append,
        park: Park,
        append_batch: AppendBatch | None = None,
        retry_initial: float = 0.2,
        retry_max: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        deferrals: Deferrals | None = None,
    ) -> None:
        self._append = append
        self._append_batch = append_batch
        self._park = park
        self.deferrals = deferrals
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._sleep = sleep
        self.counts: dict[str, int] = {outcome.value: 0 for outcome in Outcome}
        self.retries = 0

    async def process(self, record: Inbound, *, released: bool = False) -> Outcome:
        """Record one message; `released` for a deferred one tried again (it does not
        wait behind itself)."""
        try:
            envelope, message = decode(record)
        except UnprocessableEvent as exc:
            await self._park_with_retry(record, str(exc))
            return self._count(Outcome.PARKED)
        deferrals = self.deferrals
        if (
            not released
            and deferrals is not None
            and deferrals.is_behind(record.key, record.topic, record.partition)
        ):
            # The partition's order holds for this application too.
            await self._defer(record, "an earlier deferred event of its partition")
            return self._count(Outcome.DEFERRED)
        with _recording_span(record, envelope):
            try:
                recorded = await self._retrying(
                    lambda: self._append(
                        envelope,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        message=message,
                    ),
                    what="append",
                    permanent=(UnprocessableEvent, EventNotReady)
                    if deferrals is not None
                    else (UnprocessableEvent,),
                    log_fields={
                        "event_id": envelope.id,
                        "application_code": envelope.subject,
                        "topic": record.topic,
                        "offset": record.offset,
                    },
                )
            except UnprocessableEvent as exc:
                await self._park_with_retry(record, str(exc))
                return self._count(Outcome.PARKED)
            except EventNotReady as exc:
                if released:
                    return Outcome.DEFERRED  # still waiting; counted when first deferred
                await self._defer(record, exc.waiting_for)
                return self._count(Outcome.DEFERRED)
            if recorded:
                log.info(
                    "event recorded",
                    event_id=envelope.id,
                    application_code=envelope.subject,
                    type=envelope.type,
                )
                return self._count(Outcome.RECORDED)
            log.info(
                "duplicate event ignored",
                event_id=envelope.id,
                application_code=envelope.subject,
            )
            return self._count(Outcome.DUPLICATE)

    async def process_many(self, records: Sequence[Inbound]) -> list[Outcome]:
        """Record a batch of one partition's messages, in order, with one transaction;
        each ends as `process` would end it, and the outcomes come in the same order.

        Nothing but decoding happens before the batch is recorded, so a batch that
        meets an id recorded under another application meanwhile (BatchConflict) is
        processed one message at a time instead. Parking and deferring follow the
        commit: a crash in between redelivers the batch, whose recorded events are then
        duplicates. Without deferrals (tests) every message goes through `process`.
        """
        deferrals = self.deferrals
        if self._append_batch is None or deferrals is None:
            return [await self.process(record) for record in records]
        undecodable: dict[int, str] = {}
        behind: set[int] = set()
        pending: dict[int, Pending] = {}
        for index, record in enumerate(records):
            try:
                envelope, message = decode(record)
            except UnprocessableEvent as exc:
                undecodable[index] = str(exc)
                continue
            if deferrals.is_behind(record.key, record.topic, record.partition):
                behind.add(index)
                continue
            pending[index] = _pending(record, envelope, message)
        append_batch = self._append_batch
        items = list(pending.values())
        try:
            results = await self._retrying(
                lambda: append_batch(items),
                what="append batch",
                permanent=(BatchConflict,),
                log_fields={
                    "topic": records[0].topic,
                    "partition": records[0].partition,
                    "offsets": f"{records[0].offset}-{records[-1].offset}",
                },
            )
        except BatchConflict as exc:
            log.warning("batch not recorded at once; one event at a time", error=str(exc))
            return [await self.process(record) for record in records]
        found = dict(zip(pending, results, strict=True))
        outcomes: list[Outcome] = []
        # The batch's deferred records are written at once, in partition order, after
        # the loop: nothing in it reads the deferrals.
        waiting: list[tuple[Inbound, str]] = []
        for index, record in enumerate(records):
            if index in undecodable:
                outcomes.append(await self._parked(record, undecodable[index]))
                continue
            why = Behind.EARLIER_DEFERRED if index in behind else found[index]
            if isinstance(why, EventNotReady | Behind):
                waiting.append(
                    (record, why.waiting_for if isinstance(why, EventNotReady) else why.value)
                )
                outcome = self._count(Outcome.DEFERRED)
            elif (recorded := self._recorded(record, pending[index], why)) is not None:
                outcome = recorded
            else:
                assert isinstance(why, UnprocessableEvent)
                outcome = await self._parked(record, str(why))
            outcomes.append(outcome)
        if waiting:
            await self._retrying(
                lambda: deferrals.defer_many(waiting),
                what="deferring",
                log_fields={"topic": records[0].topic, "events": len(waiting)},
            )
        return outcomes

    async def record_released(self, records: Sequence[Inbound]) -> list[Outcome | None]:
        """Record, in one transaction, those of some deferred messages (each key's in
        the order they were deferred) that can be recorded now; None for the others,
        which are left as they are for `process(released=True)` (their cause still
        missing, or unprocessable: parked there). A batch that conflicts is all left."""
        pending: list[Pending] = []
        at: list[int] = []
        for index, record in enumerate(records):
            try:
                envelope, message = decode(record)
            except UnprocessableEvent:
                continue
            pending.append(_pending(record, envelope, message))
            at.append(index)
        outcomes: list[Outcome | None] = [None] * len(records)
        if self._append_batch is None or not pending:
            return outcomes
        append_batch = self._append_batch
        try:
            results = await self._retrying(
                lambda: append_batch(pending),
                what="append released batch",
                permanent=(BatchConflict,),
                log_fields={"events": len(pending)},
            )
        except BatchConflict as exc:
            log.warning("released events not recorded at once", error=str(exc))
            return outcomes
        for index, item, result in zip(at, pending, results, strict=True):
            outcomes[index] = self._recorded(records[index], item, result)
        return outcomes

    async def _parked(self, record: Inbound, reason: str) -> Outcome:
        await self._park_with_retry(record, reason)
        return self._count(Outcome.PARKED)

    def _recorded(self, record: Inbound, item: Pending, result: Result) -> Outcome | None:
        """Log a batch's message recorded or found a duplicate, in its trace (the
        batch's statements belong to no one message's trace); None for the others."""
        if result is not None and not isinstance(result, Appended):
            return None
        envelope = item.envelope
        with _recording_span(record, envelope):
            if result is None:
                log.info(
                    "duplicate event ignored",
                    event_id=envelope.id,
                    application_code=envelope.subject,
                )
                return self._count(Outcome.DUPLICATE)
            log.info(
                "event recorded",
                event_id=envelope.id,
                application_code=envelope.subject,
                type=envelope.type,
            )
            return self._count(Outcome.RECORDED)

    async def _defer(self, record: Inbound, waiting_for: str) -> None:
        assert self.deferrals is not None
        deferrals = self.deferrals
        await self._retrying(
            lambda: deferrals.defer(record, waiting_for),
            what="deferring",
            log_fields={"topic": record.topic, "offset": record.offset},
        )

    async def _park_with_retry(self, record: Inbound, reason: str) -> None:
        """Park, retrying while Kafka refuses: the source offset is acked only after."""
        log.error(
            "message parked on dead-letter topic",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
        )
        await self._retrying(
            lambda: self._park(record, reason),
            what="parking",
            log_fields={"topic": record.topic, "offset": record.offset},
        )

    async def _retrying(
        self,
        operation: Callable[[], Awaitable[T]],
        *,
        what: str,
        log_fields: Mapping[str, object],
        permanent: tuple[type[Exception], ...] = (),
    ) -> T:
        """`operation` until it succeeds, with this recorder's backoff, counting retries."""
        return await retry_forever(
            operation,
            what=what,
            initial=self._retry_initial,
            maximum=self._retry_max,
            sleep=self._sleep,
            permanent=permanent,
            on_retry=self._retried,
            log_fields=log_fields,
        )

    def _retried(self, _: Exception) -> None:
        self.retries += 1

    def _count(self, outcome: Outcome) -> Outcome:
        self.counts[outcome.value] += 1
        return outcome


def _pending(record: Inbound, envelope: Envelope, message: Message) -> Pending:
    return Pending(
        envelope=envelope,
        message=message,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
    )


def _recording_span(record: Inbound, envelope: Envelope) -> MessageSpan:
    """The span of one message recorded, in the trace its event carries."""
    return MessageSpan(
        tracer,
        f"tracking record {envelope.type.rsplit('.', 1)[-1]}",
        {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate},
        topic=record.topic,
        message_id=envelope.id,
        application_code=envelope.subject,
    )
