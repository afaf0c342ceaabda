"""Cause-first pacing: an agent holds a batch back while the topics its events wait for
still have older records to record in the same partition.

Each stream has its own agent, and after an outage every agent starts on its own
backlog at once: the workflow's events of an application were read before its
submission and notify's outcomes before their causes, so a third to a half of a drain's
events were set aside (deferred: a row written, read back, recorded alone) and recorded
again later (`bench.tracking_ingest`, 2026-12-06: 3,043 of 8,000 events deferred; the
deferral path 31 % of the agent's samples). Kafka orders nothing across topics, but
each record carries the time it was produced, and a cause is produced before its effect
(the bridge reads the submission before the workflow starts; notify reads the event it
reports on). So, as Kafka Streams does across the partitions of one task, a batch waits
while a cause topic's partition of the same number (one key, one partition number: all
application topics have the same partition count and the default partitioner) holds
records not yet recorded and has recorded none as recent as the batch's newest: until
that agent catches up, or for at most `within` seconds.

Pacing only orders work; deferral stays the rule that keeps a timeline in its story's
order (causes.py). A stale high-water mark (the consumer's, from its last fetch of that
partition) reads as caught up, and the batch goes as it would have without pacing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from onceonly.platform.topics import Stream
from onceonly.tracking.continuity import Partition

# The streams whose events wait (causes.py) for an event of another stream: the
# workflow's for the submission it started from; notify's outcomes for the event they
# report on, which any stream notify follows may carry.
CAUSE_STREAMS: Mapping[Stream, tuple[Stream, ...]] = {
    Stream.APPROVAL_EVENTS: (Stream.SUBMISSIONS,),
    Stream.NOTIFICATION_OUTCOMES: (
        Stream.SUBMISSIONS,
        Stream.APPROVAL_EVENTS,
        Stream.APPLICANT_UPDATES,
        Stream.SUPERVISION_ALERTS,
        Stream.WORK_ORDERS,
    ),
}

# How long a batch waits at most for its causes' agents: the wait only saves work when
# they are moving, and an agent held up (Postgres away, a long hole read back) must not
# hold the others for longer than a deferral would have cost.
PACING_WITHIN_SECONDS = 1.0


@dataclass(frozen=True)
class CausePosition:
    """Where a cause partition stands: the next offset to record (None: unknown), its
    high-water mark as the consumer last saw it (None: unknown), and the produce time of
    the newest record recorded from it since the start (None: none yet)."""

    next_offset: int | None
    highwater: int | None
    newest_recorded: float | None


def holds_older(position: CausePosition, newest: float) -> bool:
    """Whether a cause partition may still hold a record produced before `newest` that
    is not recorded: it has records left, and none of those recorded is as recent."""
    if position.next_offset is None or position.highwater is None:
        return False
    if position.next_offset >= position.highwater:
        return False
    return position.newest_recorded is None or position.newest_recorded < newest


@dataclass
class CausePacing:
    """The shared state of one agent process's pacing.

    `causes`: topic → the topics its events may wait for. `position_of(partition)`: the
    next offset to record and the high-water mark of a cause partition, both None when
    unknown (not held, consumer not started); it may read stored progress, so it is
    awaited. `recorded(...)` is called by every agent after each batch."""

    causes: Mapping[str, tuple[str, ...]]
    position_of: Callable[[Partition], Awaitable[tuple[int | None, int | None]]]
    within: float = PACING_WITHIN_SECONDS
    clock: Callable[[], float] = time.monotonic
    newest_recorded: dict[Partition, float] = field(default_factory=dict)
    # Batches held back, and those of them let go when `within` ran out.
    waits: int = 0
    gave_up: int = 0
    # Cause partitions a batch gave up waiting for, as they stood then: not waited for
    # again until they move. One that holds records its agent is not given (a hole the
    # consumer skipped, progress stored behind the consumer's commit) moves only once
    # continuity reads them back, after tracking_catch_up_idle_seconds: without this,
    # every batch behind it would wait `within` until then.
    stalled: dict[Partition, CausePosition] = field(default_factory=dict)
    _moved: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def recorded(self, newest: Mapping[Partition, float]) -> None:
        """A batch is recorded: the newest produce time of each of its partitions."""
        for partition, produced in newest.items():
            if produced > self.newest_recorded.get(partition, float("-inf")):
                self.newest_recorded[partition] = produced
        async with self._moved:
            self._moved.notify_all()

    async def behind(self, newest: Mapping[Partition, float]) -> dict[Partition, CausePosition]:
        """The cause partitions that may still hold older records than a batch whose
        partitions' newest produce times are `newest`, with where they stand (stalled
        ones left out)."""
        waiting: dict[Partition, CausePosition] = {}
        for (topic, number), produced in newest.items():
            for cause_topic in self.causes.get(topic, ()):
                cause = (cause_topic, number)
                next_offset, highwater = await self.position_of(cause)
                position = CausePosition(next_offset, highwater, self.newest_recorded.get(cause))
                if self.stalled.get(cause) == position:
                    continue
                self.stalled.pop(cause, None)
                if holds_older(position, produced):
                    waiting[cause] = position
        return waiting

    async def until_causes_recorded(self, newest: Mapping[Partition, float]) -> None:
        """Return once no cause partition holds older records than the batch, or after
        `within` seconds."""
        deadline = self.clock() + self.within
        waiting = await self.behind(newest)
        if not waiting:
            return
        self.waits += 1
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                self.gave_up += 1
                self.stalled.update(waiting)
                return
            async with self._moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._moved.wait(), remaining)
            waiting = await self.behind(newest)
            if not waiting:
                return


def newest_by_partition(records: Iterable[tuple[str, int, float | None]]) -> dict[Partition, float]:
    """(topic, partition, produce time) of a batch's records → each partition's newest
    (records without a time are left out)."""
    newest: dict[Partition, float] = {}
    for topic, number, produced in records:
        if produced is None:
            continue
        partition = (topic, number)
        if produced > newest.get(partition, float("-inf")):
            newest[partition] = produced
    return newest
