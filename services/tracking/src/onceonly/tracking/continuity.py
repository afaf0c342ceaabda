"""Partition continuity: the agent never moves past a hole in a partition.

faust acks an event in a `finally` when its agent's loop is left, whether the body
finished or not (an exception, a cancellation on rebalance), and its offset bookkeeping
has known faults around rebalances and gaps (faust-streaming issues #216, #606). A
committed offset past an event that was never recorded loses that event for good; the
fault-injection run lost 12 this way once. So tracking keeps its own record of how far
each partition was processed and, when the consumer hands it an offset beyond that,
reads the skipped offsets from Kafka itself and processes them first.

Offsets of our topics are contiguous (idempotent, non-transactional producers, no
compaction), so any offset above the next expected one is a skipped record.

The progress is kept in memory and written to Postgres lazily: a stored value that lags
only makes a restarted agent re-read records it already has (duplicates, ignored by
event id), never miss one. A partition first seen without stored progress starts at its
beginning (offset 0; below the log start the read begins at the first record there is),
and that first value is written at once: whatever the consumer delivers first, the
records before it are read back. Starting where the consumer started lost an
application's first five events in a replicated fault-injection run (2026-12-05): the
agent that held the partition first, during the group's start-up rebalance, had its
offsets committed past records it never handed over, and the agent that took the
partition next had no progress of its own to measure the hole against. A fresh database
beside old topics is therefore back-filled from what Kafka retains, as a new consumer
group would be.

A hole at the end of a partition shows only when the next record comes, which may take
hours on a quiet partition; so a partition the consumer has left idle for a while, with
records beyond the progress at the end of the log, is caught up the same way
(`catch_up`, run periodically). When the consumer was merely slow, it later delivers
the same records again: duplicates, ignored. Only the partitions the consumer holds are
caught up, each idle counted from when it was assigned at the earliest: a restarted
agent waiting for its partitions, or another agent's partitions, are not read back.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from onceonly.tracking.processing import Inbound, Outcome

log = structlog.get_logger(__name__)

Partition = tuple[str, int]

# Where a partition never processed starts: its first offset (a read from below the log
# start begins at the first record retained).
BEGINNING = 0


def skipped(expected: int | None, offset: int) -> range:
    """Offsets between the next expected one and `offset`: empty when none were skipped,
    for a redelivery (`offset` below `expected`) and for a partition not seen before."""
    if expected is None or offset <= expected:
        return range(0)
    return range(expected, offset)


@dataclass
class Continuity:
    """Per partition, the next offset to process; holes are filled before moving on.

    `load` reads the stored next offset of a partition (None when never stored), `save`
    stores next offsets, `fetch(topic, partition, start, stop)` reads the records of
    offsets [start, stop) from Kafka (the first of them at least: a long hole is read in
    pages), and `handle` processes one record completely
    (timeline and counters), idempotently, and says what it did. `filled` counts the
    outcomes of records read back, by why: "skipped_recorded" ones the consumer had
    skipped and would have been lost; "skipped_duplicate" ones were recorded before (the
    stored progress lagged); "idle_*" ones were read at the end of an idle partition,
    which includes records the consumer had not delivered yet (e.g. while a restarted
    agent waits for its partitions), not only lost ones.
    """

    load: Callable[[str, int], Awaitable[int | None]]
    save: Callable[[dict[Partition, int]], Awaitable[None]]
    fetch: Callable[[str, int, int, int], Awaitable[Sequence[Inbound]]]
    handle: Callable[[Inbound], Awaitable[Outcome]]
    # Processes a run of one partition's records, without holes, completely and in
    # order (the agent's batches, and records read back, `read_back_batch` at a time);
    # None: one record at a time with `handle`.
    handle_batch: Callable[[Sequence[Inbound]], Awaitable[list[Outcome]]] | None = None
    read_back_batch: int = 200
    next_offset: dict[Partition, int] = field(default_factory=dict)
    unsaved: dict[Partition, int] = field(default_factory=dict)
    filled: Counter[str] = field(default_factory=Counter)
    clock: Callable[[], float] = time.monotonic
    last_processed: dict[Partition, float] = field(default_factory=dict)
    # A partition's records are handled one at a time, by the agent or by catch_up.
    locks: dict[Partition, asyncio.Lock] = field(default_factory=dict)
    # When each partition the consumer holds was first seen held (`assigned`); None
    # until then: every partition counts as held since the start.
    assigned_at: dict[Partition, float] | None = None
    started_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.started_at = self.clock()

    async def process(self, record: Inbound) -> None:
        """Process `record`, and before it any records the consumer skipped."""
        partition = (record.topic, record.partition)
        async with self.locks.setdefault(partition, asyncio.Lock()):
            await self._start(partition)
            hole = skipped(self.next_offset[partition], record.offset)
            if hole:
                await self._fill(record.topic, record.partition, hole, why="skipped")
            await self.handle(record)
            self._advance(partition, record.offset + 1)
            self.last_processed[partition] = self.clock()

    async def process_batch(self, records: Sequence[Inbound]) -> None:
        """Process `records` (of any partitions) as `process` would one by one: per
        partition in order, runs without holes handled with `handle_batch`, each hole
        filled before the record after it."""
        if self.handle_batch is None:
            for record in records:
                await self.process(record)
            return
        by_partition: dict[Partition, list[Inbound]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)
        for partition, received in by_partition.items():
            async with self.locks.setdefault(partition, asyncio.Lock()):
                await self._start(partition)
                run: list[Inbound] = []
                for record in received:
                    expected = self.next_offset[partition]
                    if run:
                        expected = max(expected, run[-1].offset + 1)
                    hole = skipped(expected, record.offset)
                    if hole:
                        await self._handle_run(partition, run)
                        run = []
                        await self._fill(record.topic, record.partition, hole, why="skipped")
                    run.append(record)
                await self._handle_run(partition, run)

    async def _start(self, partition: Partition) -> None:
        """Know the partition's next offset (its beginning when never stored: stored now)."""
        if partition in self.next_offset:
            return
        stored = await self.load(*partition)
        if stored is None:
            # Never seen: from the beginning, stored now (see the module docstring).
            await self.save({partition: BEGINNING})
            stored = BEGINNING
        self.next_offset[partition] = stored

    async def _handle_run(self, partition: Partition, run: Sequence[Inbound]) -> None:
        if not run:
            return
        assert self.handle_batch is not None
        await self.handle_batch(run)
        self._advance(partition, max(record.offset for record in run) + 1)
        self.last_processed[partition] = self.clock()

    def assigned(self, partitions: set[Partition]) -> None:
        """The partitions the consumer holds now. One that is new since the last call is
        about to be delivered: its idle time starts now."""
        now = self.clock()
        before = self.assigned_at or {}
        self.assigned_at = {partition: before.get(partition, now) for partition in partitions}

    async def catch_up(self, partition: Partition, end: int, *, idle_for: float) -> None:
        """Read back the records up to `end` (the log end offset) of a partition that
        the consumer holds and has delivered nothing of for `idle_for` seconds (nor
        since it was assigned), beyond its progress."""
        async with self.locks.setdefault(partition, asyncio.Lock()):
            if self.assigned_at is None:
                since = self.started_at
            elif partition in self.assigned_at:
                since = self.assigned_at[partition]
            else:
                return  # not ours (yet): its holder's consumer delivers it
            last = max(self.last_processed.get(partition, since), since)
            if self.clock() - last < idle_for:
                return
            await self._start(partition)
            hole = skipped(self.next_offset[partition], end)
            if hole:
                await self._fill(*partition, hole, why="idle")

    async def _fill(self, topic: str, partition: int, hole: range, *, why: str) -> None:
        log.warning(
            "consumer skipped offsets; reading them from kafka"
            if why == "skipped"
            else "partition idle behind the log end; reading the rest from kafka",
            topic=topic,
            partition=partition,
            start=hole.start,
            stop=hole.stop,
        )
        outcomes: Counter[str] = Counter()
        # In pages (`fetch` may return fewer than asked: a partition never seen is read
        # from 0, which can be its whole retained history); an empty page ends the hole
        # (nothing more there, or all of it below the log start).
        start = hole.start
        while start < hole.stop:
            records = await self.fetch(topic, partition, start, hole.stop)
            if not records:
                break
            page = [earlier for earlier in records if earlier.offset in hole]
            for outcome in await self._handle_read_back((topic, partition), page):
                outcomes[f"{why}_{outcome.value}"] += 1
            start = records[-1].offset + 1
        self.filled.update(outcomes)
        log.warning(
            "offsets read back processed",
            topic=topic,
            partition=partition,
            start=hole.start,
            stop=hole.stop,
            **{f"{outcome}": count for outcome, count in outcomes.items()},
        )

    async def _handle_read_back(
        self, partition: Partition, records: Sequence[Inbound]
    ) -> list[Outcome]:
        """Records read back, in offset order: in runs with `handle_batch` (one
        transaction each, as the consumer's batches), else one at a time (each record's
        own transaction and round trips: a long hole took twice as long)."""
        outcomes: list[Outcome] = []
        if self.handle_batch is None:
            for earlier in records:
                outcomes.append(await self.handle(earlier))
                self._advance(partition, earlier.offset + 1)
            return outcomes
        for first in range(0, len(records), self.read_back_batch):
            run = records[first : first + self.read_back_batch]
            outcomes += await self.handle_batch(run)
            self._advance(partition, run[-1].offset + 1)
        return outcomes

    def _advance(self, partition: Partition, next_offset: int) -> None:
        if next_offset > self.next_offset.get(partition, -1):
            self.next_offset[partition] = next_offset
            self.unsaved[partition] = next_offset

    async def flush(self) -> None:
        """Store the progress made since the last flush (called periodically)."""
        if not self.unsaved:
            return
        pending, self.unsaved = self.unsaved, {}
        try:
            await self.save(pending)
        except BaseException:
            # Kept for the next flush; a newer value for the same partition wins.
            for partition, offset in pending.items():
                self.unsaved.setdefault(partition, offset)
            raise
