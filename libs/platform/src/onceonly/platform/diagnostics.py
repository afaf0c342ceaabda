"""Where asyncio tasks are waiting: for the log line of a process that stopped making
progress, so that the cause can be found afterwards from the log alone.

`Task.get_stack()` shows only the outermost frame of a suspended coroutine; following
each coroutine's `cr_await` gives the whole chain down to the future it waits on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any


def await_chain(task: asyncio.Task[Any]) -> str:
    """`outer (file.py:12) -> inner (other.py:34) -> FutureIter`: where `task` is suspended."""
    parts: list[str] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            parts.append(type(awaitable).__name__)
            break
        code = frame.f_code
        parts.append(f"{code.co_name} ({Path(code.co_filename).name}:{frame.f_lineno})")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return " -> ".join(parts)


def waiting_tasks(containing: str = "", *, limit: int = 40) -> list[str]:
    """The await chains of this loop's unfinished tasks that mention `containing`
    (e.g. "aiokafka"), at most `limit` of them, each prefixed by the task's name."""
    found = []
    for task in asyncio.all_tasks():
        if task.done():
            continue
        chain = await_chain(task)
        if containing in chain:
            found.append(f"{task.get_name()}: {chain}")
    return sorted(found)[:limit]
