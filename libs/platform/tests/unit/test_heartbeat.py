"""A heartbeat outlives every kind of database error, and stops only when cancelled."""

import asyncio

import asyncpg
import pytest

from onceonly.platform.heartbeat import run_heartbeat
from onceonly.platform.testing import eventually


class FlakyPool:
    """Fails the way asyncpg does while Postgres restarts, then recovers."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.beats = 0

    async def execute(self, *_: object) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.beats += 1
        return "INSERT 0 1"


async def test_heartbeat_survives_client_side_errors_while_postgres_restarts() -> None:
    pool = FlakyPool(
        [
            ConnectionRefusedError(111, "Connect call failed"),
            asyncpg.CannotConnectNowError("the database system is starting up"),
            asyncpg.InterfaceError("connection is closed"),
            asyncpg.InternalClientError("cannot switch to state 15"),
        ]
    )
    task = asyncio.create_task(run_heartbeat(pool, "relay", every=0.001))  # type: ignore[arg-type]
    await eventually(
        lambda: asyncio.sleep(0, pool.beats),
        lambda beats: beats >= 3,
        within=1.0,
        interval=0.001,
        what="three beats",
    )
    assert not task.done()
    assert pool.beats >= 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
