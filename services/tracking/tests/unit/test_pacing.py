"""Cause-first pacing: which cause partitions hold a batch back, and for how long."""

import asyncio

import pytest

from onceonly.tracking.agents import _paced
from onceonly.tracking.pacing import (
    CausePacing,
    CausePosition,
    Partition,
    holds_older,
    newest_by_partition,
)

SUBMISSIONS, APPROVALS, OUTCOMES = "p.submissions.v1", "p.approval-events.v1", "p.outcomes.v1"
CAUSES = {APPROVALS: (SUBMISSIONS,), OUTCOMES: (SUBMISSIONS, APPROVALS)}


def test_a_cause_partition_with_records_left_and_none_as_recent_holds_older() -> None:
    assert holds_older(CausePosition(next_offset=5, highwater=9, newest_recorded=10.0), 11.0)
    assert holds_older(CausePosition(next_offset=0, highwater=9, newest_recorded=None), 11.0)


@pytest.mark.parametrize(
    "position",
    [
        CausePosition(next_offset=9, highwater=9, newest_recorded=1.0),  # caught up
        CausePosition(next_offset=12, highwater=9, newest_recorded=1.0),  # stale high-water
        CausePosition(next_offset=5, highwater=9, newest_recorded=11.0),  # as recent
        CausePosition(next_offset=5, highwater=9, newest_recorded=12.0),  # more recent
        CausePosition(next_offset=None, highwater=9, newest_recorded=None),  # not held
        CausePosition(next_offset=5, highwater=None, newest_recorded=None),  # never fetched
    ],
)
def test_a_cause_partition_does_not_hold_older_records(position: CausePosition) -> None:
    assert not holds_older(position, 11.0)


def test_the_newest_produce_time_of_each_partition() -> None:
    records = [(APPROVALS, 0, 3.0), (APPROVALS, 0, 5.0), (APPROVALS, 1, 4.0), (APPROVALS, 2, None)]
    assert newest_by_partition(records) == {(APPROVALS, 0): 5.0, (APPROVALS, 1): 4.0}


class Positions:
    """Cause partitions as a consumer would show them: next offset and high-water mark."""

    def __init__(self) -> None:
        self.at: dict[Partition, tuple[int | None, int | None]] = {}
        self.asked: list[Partition] = []

    async def __call__(self, partition: Partition) -> tuple[int | None, int | None]:
        self.asked.append(partition)
        return self.at.get(partition, (None, None))


async def test_only_the_same_partition_number_of_each_cause_topic_is_asked() -> None:
    positions = Positions()
    positions.at[(SUBMISSIONS, 1)] = (0, 4)
    positions.at[(APPROVALS, 1)] = (7, 7)
    pacing = CausePacing(causes=CAUSES, position_of=positions)
    assert list(await pacing.behind({(OUTCOMES, 1): 2.0})) == [(SUBMISSIONS, 1)]
    assert positions.asked == [(SUBMISSIONS, 1), (APPROVALS, 1)]


async def test_a_batch_of_a_stream_without_causes_never_waits() -> None:
    positions = Positions()
    pacing = CausePacing(causes=CAUSES, position_of=positions, within=5.0)
    await asyncio.wait_for(pacing.until_causes_recorded({(SUBMISSIONS, 0): 9.0}), 1.0)
    assert positions.asked == [] and pacing.waits == 0


async def test_a_batch_waits_until_its_cause_partition_records_a_record_as_recent() -> None:
    positions = Positions()
    positions.at[(SUBMISSIONS, 0)] = (0, 10)
    pacing = CausePacing(causes=CAUSES, position_of=positions, within=30.0)
    waiting = asyncio.create_task(pacing.until_causes_recorded({(APPROVALS, 0): 5.0}))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    # Another partition's progress, and an older record of the cause's, let nothing go.
    await pacing.recorded({(SUBMISSIONS, 1): 9.0})
    positions.at[(SUBMISSIONS, 0)] = (3, 10)
    await pacing.recorded({(SUBMISSIONS, 0): 4.0})
    await asyncio.sleep(0.05)
    assert not waiting.done()
    positions.at[(SUBMISSIONS, 0)] = (6, 10)
    await pacing.recorded({(SUBMISSIONS, 0): 5.0})
    await asyncio.wait_for(waiting, 1.0)
    assert (pacing.waits, pacing.gave_up) == (1, 0)


async def test_a_batch_goes_once_its_cause_partition_is_caught_up() -> None:
    positions = Positions()
    positions.at[(SUBMISSIONS, 0)] = (0, 10)
    pacing = CausePacing(causes=CAUSES, position_of=positions, within=30.0)
    waiting = asyncio.create_task(pacing.until_causes_recorded({(APPROVALS, 0): 5.0}))
    await asyncio.sleep(0.05)
    positions.at[(SUBMISSIONS, 0)] = (10, 10)  # its last records were older still
    await pacing.recorded({(SUBMISSIONS, 0): 1.0})
    await asyncio.wait_for(waiting, 1.0)
    assert (pacing.waits, pacing.gave_up) == (1, 0)


async def test_a_batch_waits_at_most_within_seconds_for_a_cause_that_does_not_move() -> None:
    positions = Positions()
    positions.at[(SUBMISSIONS, 0)] = (0, 10)
    now = [0.0]
    pacing = CausePacing(causes=CAUSES, position_of=positions, within=0.2, clock=lambda: now[0])
    waiting = asyncio.create_task(pacing.until_causes_recorded({(APPROVALS, 0): 5.0}))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the clock has not moved
    now[0] = 0.3
    await pacing.recorded({(APPROVALS, 2): 1.0})  # any progress wakes the waiters
    await asyncio.wait_for(waiting, 1.0)
    assert (pacing.waits, pacing.gave_up) == (1, 1)


async def test_a_cause_given_up_on_is_not_waited_for_again_until_it_moves() -> None:
    positions = Positions()
    positions.at[(SUBMISSIONS, 0)] = (4, 10)  # records its agent is not given
    now = [0.0]
    pacing = CausePacing(causes=CAUSES, position_of=positions, within=0.2, clock=lambda: now[0])
    first = asyncio.create_task(pacing.until_causes_recorded({(APPROVALS, 0): 5.0}))
    await asyncio.sleep(0.05)
    now[0] = 0.3
    await pacing.recorded({(APPROVALS, 2): 1.0})
    await asyncio.wait_for(first, 1.0)
    # The next batches go at once while the cause stands where it stood.
    await asyncio.wait_for(pacing.until_causes_recorded({(APPROVALS, 0): 6.0}), 0.1)
    await asyncio.wait_for(pacing.until_causes_recorded({(OUTCOMES, 0): 7.0}), 0.1)
    assert (pacing.waits, pacing.gave_up) == (1, 1)
    # Once it moves, and is still behind, batches wait for it again.
    positions.at[(SUBMISSIONS, 0)] = (6, 10)
    await pacing.recorded({(SUBMISSIONS, 0): 2.0})
    second = asyncio.create_task(pacing.until_causes_recorded({(APPROVALS, 0): 8.0}))
    await asyncio.sleep(0.05)
    assert not second.done()
    positions.at[(SUBMISSIONS, 0)] = (10, 10)
    await pacing.recorded({(SUBMISSIONS, 0): 3.0})
    await asyncio.wait_for(second, 1.0)
    assert (pacing.waits, pacing.gave_up) == (2, 1)


async def test_a_fault_of_the_pacing_never_keeps_a_batch_from_being_recorded() -> None:
    async def broken(partition: Partition) -> tuple[int | None, int | None]:
        raise RuntimeError("the consumer went away")

    pacing = CausePacing(causes=CAUSES, position_of=broken)
    recorded: list[str] = []

    async def work() -> None:
        recorded.append("batch")

    await _paced(pacing, work(), {(APPROVALS, 0): 5.0})
    assert recorded == ["batch"]
    assert pacing.newest_recorded == {(APPROVALS, 0): 5.0}
