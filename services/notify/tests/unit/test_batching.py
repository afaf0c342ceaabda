"""Group commit (batching.Coalescer): calls made together run as one batch, each caller
gets its own result, one key is never twice in a batch, and a failing item fails only
its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from onceonly.notify.batching import Coalescer
from onceonly.notify.notifier import both


class Recorder:
    """A batch statement that doubles numbers, records its batches, and refuses `bad`."""

    def __init__(self, *, bad: int | None = None, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.bad = bad
        self.gate = gate

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.bad in items:
            raise ValueError(f"refused {self.bad}")
        return [item * 2 for item in items]


def _by_value(item: int) -> int:
    return item


def _by_parity(item: int) -> int:
    return item % 2


async def test_calls_made_together_share_one_batch_and_get_their_own_results() -> None:
    run = Recorder()
    coalescer = Coalescer(run, key=_by_value)
    results = await asyncio.gather(*(coalescer(n) for n in range(10)))
    assert results == [n * 2 for n in range(10)]
    assert run.batches == [list(range(10))]


async def test_calls_made_while_a_batch_runs_go_in_the_next_one() -> None:
    gate = asyncio.Event()
    run = Recorder(gate=gate)
    coalescer = Coalescer(run, key=_by_value)
    first = asyncio.gather(*(coalescer(n) for n in (1, 2)))
    await asyncio.sleep(0.01)  # the first batch is in flight, waiting on the gate
    second = asyncio.gather(*(coalescer(n) for n in (3, 4, 5)))
    await asyncio.sleep(0.01)
    gate.set()
    assert await first == [2, 4]
    assert await second == [6, 8, 10]
    assert run.batches == [[1, 2], [3, 4, 5]]


async def test_one_key_is_never_twice_in_a_batch_and_keeps_its_order() -> None:
    run = Recorder()
    coalescer = Coalescer(run, key=_by_parity)
    results = await asyncio.gather(*(coalescer(n) for n in (1, 2, 3, 4, 5)))
    assert results == [2, 4, 6, 8, 10]
    assert run.batches == [[1, 2], [3, 4], [5]]


async def test_batches_are_no_larger_than_the_limit() -> None:
    run = Recorder()
    coalescer = Coalescer(run, key=_by_value, max_batch=3)
    await asyncio.gather(*(coalescer(n) for n in range(7)))
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failing_item_fails_its_own_caller_only() -> None:
    run = Recorder(bad=3)
    coalescer = Coalescer(run, key=_by_value)
    results = await asyncio.gather(*(coalescer(n) for n in (1, 2, 3, 4)), return_exceptions=True)
    assert results[:2] == [2, 4] and results[3] == 8
    assert isinstance(results[2], ValueError)
    # The batch failed as a whole, then each item ran on its own.
    assert run.batches == [[1, 2, 3, 4], [1], [2], [3], [4]]


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    gate = asyncio.Event()
    run = Recorder(gate=gate)
    coalescer = Coalescer(run, key=_by_value)
    kept = asyncio.ensure_future(coalescer(1))
    dropped = asyncio.ensure_future(coalescer(2))
    await asyncio.sleep(0.01)
    dropped.cancel()
    gate.set()
    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await dropped


async def test_both_runs_each_to_its_end_before_raising_the_first_error() -> None:
    finished: list[str] = []

    async def fails() -> int:
        await asyncio.sleep(0)
        raise ValueError("first")

    async def slow() -> None:
        await asyncio.sleep(0.01)
        finished.append("second")

    with pytest.raises(ValueError, match="first"):
        await both(fails(), slow())
    assert finished == ["second"]

    async def answer() -> int:
        return 42

    assert await both(answer(), slow()) == 42
