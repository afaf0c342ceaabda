"""Group commit for the consumer's statements: the same statement, asked for by several
messages handled at once, runs once for all of them.

The consumer handles the messages of a fetched batch side by side (one application's in
order); each of them takes the same steps (open its ledger row, start the send, record
it sent, ...) and would otherwise pay a database round trip per step. A `Coalescer`
collects the calls made while the previous batch of its statement is in flight and runs
them as one multi-row statement, each caller getting its own row back. Nothing changes
for a caller but the wait: it still awaits its own result, in its own order.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")
K = TypeVar("K", bound=Hashable)


def itself(item: K) -> K:
    """The `key` of a Coalescer whose items are their own keys (codes, ledger keys)."""
    return item


def first(item: tuple[K, *tuple[object, ...]]) -> K:
    """The `key` of a Coalescer whose items are tuples keyed by their first element."""
    return item[0]


class Coalescer(Generic[In, Out]):
    """Runs `run_batch` over the items given while its previous run was in flight.

    `run_batch(items)` returns one result per item, in order. A batch never holds two
    items of the same `key`: the later waits for the next batch, so that one row is
    never changed twice by one statement. When a batch of several fails, its items are
    run one by one, so that an item that cannot succeed fails its own caller only.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[In]], Awaitable[Sequence[Out]]],
        *,
        key: Callable[[In], Hashable],
        max_batch: int = 200,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch >= 1")
        self._run_batch = run_batch
        self._key = key
        self._max_batch = max_batch
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            # A context of its own: the batch belongs to no single message's trace.
            self._flusher = asyncio.create_task(self._flush(), context=contextvars.Context())
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[In, asyncio.Future[Out]]] = []
        try:
            # Once round the loop first, so that the handlers ready now add theirs.
            await asyncio.sleep(0)
            while self._pending:
                batch = self._take()
                await self._run(batch)
        except BaseException:
            # Cancelled (the process stops): nobody is left waiting for ever.
            for _, future in [*batch, *self._pending]:
                future.cancel()
            self._pending = []
            raise

    def _take(self) -> list[tuple[In, asyncio.Future[Out]]]:
        batch: list[tuple[In, asyncio.Future[Out]]] = []
        later: list[tuple[In, asyncio.Future[Out]]] = []
        keys: set[Hashable] = set()
        for entry in self._pending:
            key = self._key(entry[0])
            if len(batch) >= self._max_batch or key in keys:
                later.append(entry)
            else:
                keys.add(key)
                batch.append(entry)
        self._pending = later
        return batch

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for entry in batch:
                await self._run([entry])
            return
        if len(results) != len(batch):
            error = RuntimeError(f"batch of {len(batch)} answered {len(results)} results")
            for _, future in batch:
                _settle(future, error=error)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[Out], *, result: Out | None = None, error: Exception | None = None
) -> None:
    if future.done():  # its caller was cancelled; the statement ran all the same
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
