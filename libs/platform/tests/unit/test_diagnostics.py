"""await_chain follows a suspended task down to what it waits on, and waiting_tasks
keeps the tasks whose chain mentions a given name."""

from __future__ import annotations

import asyncio

from onceonly.platform.diagnostics import await_chain, waiting_tasks


async def inner(event: asyncio.Event) -> None:
    await event.wait()


async def outer(event: asyncio.Event) -> None:
    await inner(event)


async def test_the_chain_runs_from_the_task_down_to_the_future_it_waits_on() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(outer(event), name="stuck")
    await asyncio.sleep(0)
    try:
        chain = await_chain(task).split(" -> ")
        assert [part.split(" ")[0] for part in chain] == ["outer", "inner", "wait", "FutureIter"]
        assert chain[0].startswith("outer (test_diagnostics.py:")
        assert any(line.startswith("stuck: outer") for line in waiting_tasks("inner"))
        assert not any(line.startswith("stuck:") for line in waiting_tasks("no-such-frame"))
    finally:
        event.set()
        await task
    assert not any(line.startswith("stuck:") for line in waiting_tasks())
