"""Partition continuity: records the consumer skipped are read back before moving on."""

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking.agents import _to_completion
from onceonly.tracking.continuity import Continuity, skipped
from onceonly.tracking.processing import Inbound, Outcome

TOPIC = "t.approval-events.v1"


def record(offset: int, partition: int = 0) -> Inbound:
    return Inbound(topic=TOPIC, partition=partition, offset=offset, key=b"k", value=b"v")


class Partitions:
    """A fake partition log, a fake progress table and what was handled, in order."""

    def __init__(self, stored: dict[tuple[str, int], int] | None = None) -> None:
        self.stored = dict(stored or {})
        self.handled: list[tuple[int, int]] = []
        self.fetches: list[tuple[int, int, int]] = []

    async def load(self, topic: str, partition: int) -> int | None:
        return self.stored.get((topic, partition))

    async def save(self, next_offsets: dict[tuple[str, int], int]) -> None:
        for key, value in next_offsets.items():
            self.stored[key] = max(self.stored.get(key, 0), value)

    async def fetch(self, topic: str, partition: int, start: int, stop: int) -> Sequence[Inbound]:
        self.fetches.append((partition, start, stop))
        return [record(offset, partition) for offset in range(start, stop)]

    async def handle(self, inbound: Inbound) -> Outcome:
        first = (inbound.partition, inbound.offset) not in self.handled
        self.handled.append((inbound.partition, inbound.offset))
        return Outcome.RECORDED if first else Outcome.DUPLICATE

    def continuity(self) -> Continuity:
        return Continuity(load=self.load, save=self.save, fetch=self.fetch, handle=self.handle)


def test_skipped_offsets() -> None:
    assert skipped(None, 7) == range(0)
    assert skipped(7, 7) == range(0)
    assert skipped(9, 7) == range(0)  # a redelivery
    assert list(skipped(5, 8)) == [5, 6, 7]


async def test_a_partition_never_seen_is_read_from_its_beginning_and_stored() -> None:
    """The group's start-up rebalance: the agent that held the partition first had its
    offset committed past records it never handed over (0..4), and this agent, with no
    progress of its own, is first delivered offset 5: 0..4 are read back first."""
    log = Partitions()
    continuity = log.continuity()
    await continuity.process(record(5))
    assert log.handled == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]
    assert log.fetches == [(0, 0, 5)]
    assert continuity.filled == {"skipped_recorded": 5}
    await continuity.flush()
    assert log.stored == {(TOPIC, 0): 6}


async def test_the_beginning_is_stored_before_anything_is_handled() -> None:
    log = Partitions()
    saved: list[dict[tuple[str, int], int]] = []

    async def save(next_offsets: dict[tuple[str, int], int]) -> None:
        saved.append(dict(next_offsets))
        await log.save(next_offsets)

    continuity = Continuity(load=log.load, save=save, fetch=log.fetch, handle=log.handle)
    await continuity.process(record(0))
    assert saved == [{(TOPIC, 0): 0}]  # at once, before any flush


async def test_offsets_the_consumer_skipped_are_read_and_handled_first_in_order() -> None:
    log = Partitions()
    continuity = log.continuity()
    await continuity.process(record(0))
    await continuity.process(record(1))
    await continuity.process(record(5))  # 2, 3, 4 skipped by the consumer
    await continuity.process(record(6))
    assert log.handled == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6)]
    assert log.fetches == [(0, 2, 5)]
    assert continuity.filled == {"skipped_recorded": 3}


async def test_records_read_back_that_were_recorded_before_count_as_duplicates() -> None:
    log = Partitions()
    continuity = log.continuity()
    for offset in (0, 1, 2):
        await continuity.process(record(offset))
    # A restart whose stored progress lagged (1) behind what was recorded (2).
    restarted = log.continuity()
    log.stored[(TOPIC, 0)] = 1
    await restarted.process(record(3))
    assert log.handled[3:] == [(0, 1), (0, 2), (0, 3)]
    assert restarted.filled == {"skipped_duplicate": 2}


async def test_stored_progress_finds_a_hole_across_a_restart() -> None:
    # The process died after handling up to offset 9 (stored 10); the consumer's
    # committed offset was wrongly 14, so the new process starts at 14.
    log = Partitions(stored={(TOPIC, 0): 10})
    await log.continuity().process(record(14))
    assert log.handled == [(0, 10), (0, 11), (0, 12), (0, 13), (0, 14)]


async def test_redeliveries_are_handled_again_without_moving_progress_back() -> None:
    log = Partitions(stored={(TOPIC, 0): 3})
    continuity = log.continuity()
    for offset in (3, 4, 5, 4, 5, 6):
        await continuity.process(record(offset))
    assert log.fetches == []
    assert [offset for _, offset in log.handled] == [3, 4, 5, 4, 5, 6]
    assert continuity.next_offset[(TOPIC, 0)] == 7


async def test_partitions_are_followed_separately() -> None:
    log = Partitions(stored={(TOPIC, 1): 10})
    continuity = log.continuity()
    await continuity.process(record(0, partition=0))
    await continuity.process(record(10, partition=1))
    await continuity.process(record(2, partition=0))
    await continuity.process(record(11, partition=1))
    assert log.fetches == [(0, 1, 2)]
    await continuity.flush()
    assert log.stored == {(TOPIC, 0): 3, (TOPIC, 1): 12}


async def test_progress_not_stored_is_kept_for_the_next_flush() -> None:
    log = Partitions()
    continuity = log.continuity()
    await continuity.process(record(0))
    failing = True

    async def save(next_offsets: dict[tuple[str, int], int]) -> None:
        if failing:
            raise ConnectionError("postgres away")
        await log.save(next_offsets)

    continuity.save = save
    with pytest.raises(ConnectionError):
        await continuity.flush()
    await continuity.process(record(1))
    failing = False
    await continuity.flush()
    assert log.stored == {(TOPIC, 0): 2}


async def test_records_gone_from_kafka_are_passed_over() -> None:
    log = Partitions()

    async def fetch(topic: str, partition: int, start: int, stop: int) -> Sequence[Inbound]:
        return [record(4)]  # 2 and 3 deleted by retention

    continuity = Continuity(load=log.load, save=log.save, fetch=fetch, handle=log.handle)
    await continuity.process(record(1))
    await continuity.process(record(5))
    assert log.handled == [(0, 1), (0, 4), (0, 5)]


@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=40),
)
def test_every_offset_from_the_first_is_handled_whatever_the_consumer_skips(
    delivered: list[int],
) -> None:
    """The consumer delivers any increasing subset (with redeliveries); every offset
    from the partition's beginning to the last delivered is handled, each before the
    ones after it."""
    offsets = sorted(delivered)
    log = Partitions()

    async def run() -> None:
        continuity = log.continuity()
        for offset in offsets:
            await continuity.process(record(offset))

    asyncio.run(run())
    first_time = [offset for _, offset in dict.fromkeys(log.handled)]
    assert first_time == list(range(0, offsets[-1] + 1))


async def test_a_cancelled_agent_finishes_the_event_in_hand_before_the_cancellation() -> None:
    finished = asyncio.Event()
    release = asyncio.Event()

    async def record_event() -> None:
        await release.wait()
        finished.set()

    agent = asyncio.ensure_future(_to_completion(record_event()))
    await asyncio.sleep(0)
    agent.cancel()  # faust cancels its agents on a rebalance
    await asyncio.sleep(0.01)
    assert not agent.done()  # still recording, so faust cannot ack the event yet
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await agent
    assert finished.is_set()


async def test_an_error_of_the_work_is_raised() -> None:
    async def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await _to_completion(fail())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_hole_at_the_end_of_an_idle_partition_is_caught_up() -> None:
    log = Partitions()
    clock = Clock()
    continuity = Continuity(
        load=log.load, save=log.save, fetch=log.fetch, handle=log.handle, clock=clock
    )
    await continuity.process(record(0))
    await continuity.process(record(1))
    # The consumer acked 2..4 without handing them over, and nothing came after.
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    assert log.fetches == []  # not idle long enough: the consumer may just be slow
    clock.now += 31
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    assert log.handled == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]
    assert continuity.filled == {"idle_recorded": 3}
    # Nothing more at the end: nothing read.
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    assert log.fetches == [(0, 2, 5)]
    # The slow consumer delivers them after all: duplicates, progress unchanged.
    await continuity.process(record(2))
    assert continuity.next_offset[(TOPIC, 0)] == 5


async def test_catch_up_uses_stored_progress_and_reads_partitions_never_seen_from_0() -> None:
    log = Partitions(stored={(TOPIC, 1): 7})
    clock = Clock()
    continuity = Continuity(
        load=log.load, save=log.save, fetch=log.fetch, handle=log.handle, clock=clock
    )
    clock.now += 60  # idle since the process started
    await continuity.catch_up((TOPIC, 0), 3, idle_for=30)  # no stored progress
    await continuity.catch_up((TOPIC, 1), 9, idle_for=30)
    assert log.handled == [(0, 0), (0, 1), (0, 2), (1, 7), (1, 8)]


async def test_only_held_partitions_are_caught_up_idle_since_their_assignment() -> None:
    log = Partitions(stored={(TOPIC, 0): 2, (TOPIC, 1): 2})
    clock = Clock()
    continuity = Continuity(
        load=log.load, save=log.save, fetch=log.fetch, handle=log.handle, clock=clock
    )
    # A restarted agent still waiting for its partitions holds none: nothing read back.
    continuity.assigned(set())
    clock.now += 60
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    assert log.fetches == []
    # Partition 0 arrives: the consumer is about to deliver it, so it is not idle yet.
    continuity.assigned({(TOPIC, 0)})
    clock.now += 20
    continuity.assigned({(TOPIC, 0)})  # still held: its assignment time stays
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    assert log.fetches == []
    clock.now += 11  # 31 s since it was assigned, nothing delivered
    await continuity.catch_up((TOPIC, 0), 5, idle_for=30)
    await continuity.catch_up((TOPIC, 1), 5, idle_for=30)  # another agent's
    assert log.fetches == [(0, 2, 5)]
    assert log.handled == [(0, 2), (0, 3), (0, 4)]


async def test_a_batch_is_handled_per_partition_in_runs_with_its_holes_filled_first() -> None:
    log = Partitions(stored={(TOPIC, 0): 10, (TOPIC, 1): 0})
    runs: list[list[tuple[int, int]]] = []

    async def handle_batch(records: Sequence[Inbound]) -> list[Outcome]:
        runs.append([(r.partition, r.offset) for r in records])
        return [await log.handle(r) for r in records]

    continuity = Continuity(
        load=log.load, save=log.save, fetch=log.fetch, handle=log.handle, handle_batch=handle_batch
    )
    # Partition 0 skipped 12 and 13; partition 1 goes on; 10 comes again (a redelivery).
    await continuity.process_batch(
        [record(10), record(11), record(0, 1), record(14), record(15), record(1, 1), record(10)]
    )
    assert runs == [
        [(0, 10), (0, 11)],
        [(0, 12), (0, 13)],  # the hole, read back
        [(0, 14), (0, 15), (0, 10)],
        [(1, 0), (1, 1)],
    ]
    assert log.fetches == [(0, 12, 14)]
    assert log.handled[:6] == [(0, 10), (0, 11), (0, 12), (0, 13), (0, 14), (0, 15)]
    assert continuity.next_offset == {(TOPIC, 0): 16, (TOPIC, 1): 2}


async def test_a_long_hole_is_read_back_page_by_page() -> None:
    log = Partitions(stored={(TOPIC, 0): 0})

    async def fetch(topic: str, partition: int, start: int, stop: int) -> Sequence[Inbound]:
        log.fetches.append((partition, start, stop))
        return [record(offset) for offset in range(start, min(stop, start + 4))]

    continuity = Continuity(load=log.load, save=log.save, fetch=fetch, handle=log.handle)
    await continuity.process(record(10))
    assert [offset for _, offset in log.handled] == list(range(11))
    assert log.fetches == [(0, 0, 10), (0, 4, 10), (0, 8, 10)]


async def test_a_hole_below_the_log_start_ends_at_the_first_empty_page() -> None:
    log = Partitions()

    async def fetch(topic: str, partition: int, start: int, stop: int) -> Sequence[Inbound]:
        log.fetches.append((partition, start, stop))
        return []  # all of it deleted by retention

    continuity = Continuity(load=log.load, save=log.save, fetch=fetch, handle=log.handle)
    await continuity.process(record(7))
    assert log.handled == [(0, 7)]
    assert log.fetches == [(0, 0, 7)]


async def test_records_read_back_go_in_runs_of_the_batch_size_page_by_page() -> None:
    log = Partitions(stored={(TOPIC, 0): 0})
    runs: list[list[int]] = []

    async def fetch(topic: str, partition: int, start: int, stop: int) -> Sequence[Inbound]:
        log.fetches.append((partition, start, stop))
        return [record(offset) for offset in range(start, min(stop, start + 5))]

    async def handle_batch(records: Sequence[Inbound]) -> list[Outcome]:
        runs.append([r.offset for r in records])
        return [await log.handle(r) for r in records]

    continuity = Continuity(
        load=log.load,
        save=log.save,
        fetch=fetch,
        handle=log.handle,
        handle_batch=handle_batch,
        read_back_batch=2,
    )
    await continuity.process_batch([record(12), record(13)])
    # Pages of 5 from the fetch, runs of 2 within each page, then the consumer's batch.
    assert runs == [[0, 1], [2, 3], [4], [5, 6], [7, 8], [9], [10, 11], [12, 13]]
    assert log.fetches == [(0, 0, 12), (0, 5, 12), (0, 10, 12)]
    assert continuity.filled == {"skipped_recorded": 12}
    assert continuity.next_offset == {(TOPIC, 0): 14}
    assert continuity.unsaved == {(TOPIC, 0): 14}
