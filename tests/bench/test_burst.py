"""The workflow benchmark's bounded burst: exactly `count` requests, `concurrency` at once."""

from __future__ import annotations

import asyncio

from bench.workflow_bench import burst


async def test_burst_sends_count_requests_at_most_concurrency_at_once() -> None:
    in_flight = 0
    most = 0
    seen: list[int] = []
    ticks: list[float] = []

    async def send(i: int) -> bool:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        seen.append(i)
        if i == 3:
            raise ConnectionError("refused")  # counted as failed, the burst goes on
        return i % 2 == 0

    result = await burst(send, count=25, concurrency=4, tick=ticks.append)
    assert sorted(seen) == list(range(25))
    assert most == 4
    assert result.offered == 25
    assert result.ok == 13  # the even ones
    assert result.failed == 12
    assert len(result.latencies) == 13
    assert ticks[-1] == 1.0
