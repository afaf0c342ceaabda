"""Load drivers: open loop (a fixed offered rate, latency measured from each request's
scheduled instant, so a stalled server cannot hide its queue) and closed loop (a fixed
number of clients, each sending as soon as its previous answer came: the maximum
throughput)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# One request: given its sequence number, True when it succeeded.
Send = Callable[[int], Awaitable[bool]]
Tick = Callable[[float], None]


@dataclass
class LoadResult:
    offered: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of successful requests
    # Requests whose start was more than 10 ms late: the client could not keep up.
    late_starts: int = 0
    # Open loop: requests never sent because the run overran (server saturated), and
    # requests cancelled unanswered at the end.
    not_sent: int = 0
    abandoned: int = 0


# At most this many requests are in flight: an HTTP client's pool slows down with the
# requests queued inside it (httpx's quadratically), so the queue is kept here (latency
# still counts from each request's scheduled instant: time waiting here is not hidden).
async def open_loop(
    send: Send,
    *,
    rate: float,
    seconds: float,
    max_in_flight: int = 256,
    grace: float | None = None,
    tick: Tick = lambda _: None,
) -> LoadResult:
    """Offer `rate` requests/s for `seconds`. A saturated server would stretch the run
    without end: sending stops `grace` seconds (default: `seconds`) after the planned
    end, and what is still unanswered `grace` seconds after that is abandoned."""
    result = LoadResult()
    grace = seconds if grace is None else grace
    total = int(rate * seconds)
    in_flight = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()

    async def one(i: int, scheduled: float) -> None:
        try:
            ok = await send(i)
        except Exception:
            ok = False
        finally:
            in_flight.release()
        if ok:
            result.ok += 1
            result.latencies.append(time.perf_counter() - scheduled)
        else:
            result.failed += 1

    for i in range(total):
        if time.perf_counter() - start > seconds + grace:
            result.not_sent = total - i
            break
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.010:
            result.late_starts += 1
        await in_flight.acquire()
        task = asyncio.create_task(one(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.offered += 1
        if i % 50 == 0:
            tick(min(1.0, (time.perf_counter() - start) / seconds))
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=grace)
        for task in pending:
            task.cancel()
        result.abandoned = len(pending)
        if pending:
            await asyncio.wait(pending)
    result.seconds = time.perf_counter() - start
    tick(1.0)
    return result


async def closed_loop(
    send: Send, *, concurrency: int, seconds: float, tick: Tick = lambda _: None
) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    stop_at = start + seconds
    counter = iter(range(1 << 62))

    async def client() -> None:
        while (now := time.perf_counter()) < stop_at:
            i = next(counter)
            result.offered += 1
            try:
                ok = await send(i)
            except Exception:
                ok = False
            if ok:
                result.ok += 1
                result.latencies.append(time.perf_counter() - now)
            else:
                result.failed += 1

    async def progress() -> None:
        while time.perf_counter() < stop_at:
            tick(min(1.0, (time.perf_counter() - start) / seconds))
            await asyncio.sleep(0.5)

    ticker = asyncio.create_task(progress())
    await asyncio.gather(*(client() for _ in range(concurrency)))
    ticker.cancel()
    result.seconds = time.perf_counter() - start
    tick(1.0)
    return result
