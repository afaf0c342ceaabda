"""Deferred events: one application's event that cannot be handled yet waits aside,
and nothing else waits with it.

Kafka orders one key's records within a partition, never across topics. An applicant's
withdrawal (applicant-updates topic) can therefore reach the bridge before the
submission that starts its workflow (submissions topic), and a notification outcome can
reach tracking before the event it reports on. Retrying such an event in place blocks
every application behind it in the batch, for as long as its cause takes; if the cause
is behind it in the same batch, for ever.

A handler says "not yet" by raising `EventNotReady`. The record is then kept in a
durable store (the Kafka offset can be committed: the store holds it now) and:

- later records of the same application *and partition* are deferred behind it, so
  Kafka's order per partition still holds for that application;
- records of the same application from other partitions are tried at once: one of
  them may be what the deferred record waits for;
- after any record of the application is handled, its deferred records are tried
  again in the order they arrived (`release`), so a withdrawal is applied right after
  the submission that starts its workflow;
- a periodic `sweep` tries every application's deferred records (their cause may have
  been handled elsewhere: another replica, another service) and parks on the dead-letter
  topic those that waited longer than `max_wait`, with the reason.

Only the application concerned waits; the consumer's batch goes on.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import structlog
from prometheus_client import Counter, Gauge

from onceonly.platform.kafka_ports import Located

log = structlog.get_logger(__name__)

DEFERRED = Counter(
    "onceonly_events_deferred_total",
    "Events set aside because what they need had not been handled yet",
    ["consumer"],
)
RELEASED = Counter(
    "onceonly_deferred_events_released_total",
    "Deferred events handled once what they waited for was there",
    ["consumer"],
)
EXPIRED = Counter(
    "onceonly_deferred_events_expired_total",
    "Deferred events parked on the dead-letter topic after waiting too long",
    ["consumer"],
)
WAITING = Gauge(
    "onceonly_deferred_events_waiting",
    "Applications with deferred events, as this process last counted them",
    ["consumer"],
)


class EventNotReady(Exception):
    """Raised by a handler for an event that needs another one handled first."""

    def __init__(self, waiting_for: str) -> None:
        super().__init__(f"waiting for {waiting_for}")
        self.waiting_for = waiting_for


@dataclass(frozen=True, slots=True)
class DeferredRecord:
    """A Kafka record set aside, with what it waits for."""

    consumer: str
    key: bytes
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    waiting_for: str
    deferred_at: datetime
    # Arrival order within the store; given by the store.
    id: int = 0

    @property
    def place(self) -> tuple[str, int]:
        return (self.topic, self.partition)


class DeferredStore(Protocol):
    """Where deferred records wait. Adding the same (consumer, topic, partition, offset)
    twice keeps the first: a redelivered record is deferred once."""

    async def add(self, record: DeferredRecord) -> None: ...

    async def add_many(self, records: Sequence[DeferredRecord]) -> None:
        """`add` for each, in order (ids in that order), with one round trip."""
        ...

    async def of_key(self, consumer: str, key: bytes) -> list[DeferredRecord]:
        """The key's records in arrival order."""
        ...

    async def of_keys(self, consumer: str, keys: list[bytes]) -> list[DeferredRecord]:
        """The records of all these keys, in arrival order: one read for a batch."""
        ...

    async def places(self, consumer: str) -> dict[bytes, set[tuple[str, int]]]:
        """Every key with deferred records, and the (topic, partition) they came from."""
        ...

    async def remove(self, consumer: str, ids: list[int]) -> None: ...


class Attempt(StrEnum):
    HANDLED = "handled"  # or parked: either way it no longer waits
    WAITING = "waiting"


# Tries one deferred record: the consumer's own handling, retries and parking included.
TryRecord = Callable[[DeferredRecord], Awaitable[Attempt]]
# Parks one deferred record on the dead-letter topic with the reason.
ParkRecord = Callable[[DeferredRecord, str], Awaitable[None]]


@dataclass
class Deferrals:
    """One consumer's deferred records: what to set aside, and when to try them again."""

    store: DeferredStore
    consumer: str
    max_wait: timedelta = timedelta(hours=1)
    sweep_every: timedelta = timedelta(seconds=5)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # key -> (topic, partition) of its deferred records, as far as this process knows.
    _held: dict[bytes, set[tuple[str, int]]] = field(default_factory=dict)
    _last_sweep: datetime | None = None

    async def load(self) -> None:
        """Learn what the store holds (at start: records deferred before a restart)."""
        self._held = await self.store.places(self.consumer)
        WAITING.labels(self.consumer).set(len(self._held))

    def has(self, key: bytes | None) -> bool:
        return key is not None and key in self._held

    def is_behind(self, key: bytes | None, topic: str, partition: int) -> bool:
        """Whether a record must wait behind an earlier deferred one of its partition."""
        return key is not None and (topic, partition) in self._held.get(key, ())

    async def defer(self, record: Located, waiting_for: str) -> None:
        """Set `record` aside until what it waits for has been handled."""
        await self.defer_many([(record, waiting_for)])

    async def defer_many(self, waiting: Sequence[tuple[Located, str]]) -> None:
        """`defer` for several records (a batch's), in order, with one write."""
        if not waiting:
            return
        deferred_at = self.clock()
        records = []
        for record, waiting_for in waiting:
            key = record.key or b""
            log.info(
                "event deferred",
                consumer=self.consumer,
                application_code=key.decode("utf-8", "replace"),
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                waiting_for=waiting_for,
            )
            records.append(
                DeferredRecord(
                    consumer=self.consumer,
                    key=key,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    value=record.value or b"",
                    # Kafka allows a header without a value; the store keeps bytes.
                    headers=tuple((name, value or b"") for name, value in record.headers or ()),
                    waiting_for=waiting_for,
                    deferred_at=deferred_at,
                )
            )
        await self.store.add_many(records)
        for deferred in records:
            self._held.setdefault(deferred.key, set()).add(deferred.place)
        DEFERRED.labels(self.consumer).inc(len(records))
        WAITING.labels(self.consumer).set(len(self._held))

    async def release(self, key: bytes, attempt: TryRecord, park: ParkRecord) -> None:
        """Try the key's deferred records in arrival order. One still waiting holds back
        the later ones of its partition; those that waited past `max_wait` are parked."""
        await self.release_many([key], attempt, park)

    async def release_many(self, keys: list[bytes], attempt: TryRecord, park: ParkRecord) -> None:
        """`release` for several keys with one read, one removal and one read back for
        them all (a batch's applications), key after key in the order given."""
        pending: dict[bytes, list[DeferredRecord]] = {key: [] for key in keys}
        for record in await self.store.of_keys(self.consumer, keys):
            pending[record.key].append(record)
        done: list[int] = []
        now = self.clock()
        for key, records in pending.items():
            done += await self._try_key(key, records, attempt, park, now)
        if done:
            await self.store.remove(self.consumer, done)
        # Read back rather than taken from what was tried: a record of a key may have
        # been deferred meanwhile by a concurrent handler (tracking's agents run side by
        # side).
        remaining: dict[bytes, set[tuple[str, int]]] = {}
        for record in await self.store.of_keys(self.consumer, keys):
            remaining.setdefault(record.key, set()).add(record.place)
        for key in keys:
            if key in remaining:
                self._held[key] = remaining[key]
            else:
                self._held.pop(key, None)
        WAITING.labels(self.consumer).set(len(self._held))

    async def _try_key(
        self,
        key: bytes,
        records: list[DeferredRecord],
        attempt: TryRecord,
        park: ParkRecord,
        now: datetime,
    ) -> list[int]:
        """Try one key's records; the ids of those handled or parked.

        Again while a pass handles any and some wait: an earlier record may wait for a
        later one of another partition (tracking: a notification's outcome for the
        workflow's event that waited for its submission), which this pass just handled;
        without another pass it would wait for the sweep."""
        done: list[int] = []
        left = records
        while left:
            blocked: set[tuple[str, int]] = set()
            waiting: list[DeferredRecord] = []
            for record in left:
                if record.place in blocked:
                    waiting.append(record)
                elif await attempt(record) is Attempt.HANDLED:
                    done.append(record.id)
                    RELEASED.labels(self.consumer).inc()
                    log.info(
                        "deferred event handled",
                        consumer=self.consumer,
                        application_code=key.decode("utf-8", "replace"),
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                    )
                elif now - record.deferred_at > self.max_wait:
                    waited = int((now - record.deferred_at).total_seconds())
                    await park(record, f"waited {waited} s for {record.waiting_for}; gave up")
                    done.append(record.id)
                    EXPIRED.labels(self.consumer).inc()
                else:
                    blocked.add(record.place)
                    waiting.append(record)
            if len(waiting) == len(left):
                break
            left = waiting
        return done

    def sweep_due(self) -> bool:
        now = self.clock()
        return self._last_sweep is None or now - self._last_sweep >= self.sweep_every

    async def sweep(self, attempt: TryRecord, park: ParkRecord) -> None:
        """Try every key's deferred records, including those another process deferred.
        A store that is away (Postgres restarting) ends this sweep with a warning; the
        consumer goes on, and the next sweep tries again."""
        self._last_sweep = self.clock()
        try:
            await self.load()
            for key in list(self._held):
                await self.release(key, attempt, park)
        except Exception as exc:
            log.warning(
                "deferred events not swept; next time",
                consumer=self.consumer,
                error=f"{type(exc).__name__}: {exc}",
            )


class MemoryDeferredStore:
    """The in-memory store, for unit tests; the same contract as the Postgres one."""

    def __init__(self) -> None:
        self._records: dict[int, DeferredRecord] = {}
        self._ids = itertools.count(1)
        # Raised by the next calls, one each (e.g. Postgres restarting).
        self.failures: list[Exception] = []

    def _fail_if_told(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    async def add(self, record: DeferredRecord) -> None:
        self._fail_if_told()
        self._insert(record)

    async def add_many(self, records: Sequence[DeferredRecord]) -> None:
        self._fail_if_told()
        for record in records:
            self._insert(record)

    def _insert(self, record: DeferredRecord) -> None:
        if any(
            (r.consumer, r.topic, r.partition, r.offset)
            == (record.consumer, record.topic, record.partition, record.offset)
            for r in self._records.values()
        ):
            return
        new_id = next(self._ids)
        self._records[new_id] = replace(record, id=new_id)

    async def of_key(self, consumer: str, key: bytes) -> list[DeferredRecord]:
        self._fail_if_told()
        return [
            r for _, r in sorted(self._records.items()) if r.consumer == consumer and r.key == key
        ]

    async def of_keys(self, consumer: str, keys: list[bytes]) -> list[DeferredRecord]:
        self._fail_if_told()
        wanted = set(keys)
        return [
            r
            for _, r in sorted(self._records.items())
            if r.consumer == consumer and r.key in wanted
        ]

    async def places(self, consumer: str) -> dict[bytes, set[tuple[str, int]]]:
        self._fail_if_told()
        found: dict[bytes, set[tuple[str, int]]] = {}
        for record in self._records.values():
            if record.consumer == consumer:
                found.setdefault(record.key, set()).add(record.place)
        return found

    async def remove(self, consumer: str, ids: list[int]) -> None:
        self._fail_if_told()
        for record_id in ids:
            if (record := self._records.get(record_id)) and record.consumer == consumer:
                del self._records[record_id]
