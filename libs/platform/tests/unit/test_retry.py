"""retry_forever: backoff, what it retries, what it lets out, and what it logs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from onceonly.platform import retry
from onceonly.platform.retry import retry_forever


class Warnings:
    """Stands in for the module's structlog logger (a cached real one may be configured)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> Warnings:
    recorder = Warnings()
    monkeypatch.setattr(retry, "log", recorder)
    return recorder


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Flaky:
    """Raises the given errors one per call, then answers `result`."""

    def __init__(self, *errors: BaseException, result: str = "done") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


async def test_a_first_success_is_returned_without_sleeping(warnings: Warnings) -> None:
    sleeps = Sleeps()
    assert await retry_forever(Flaky(), what="append", sleep=sleeps) == "done"
    assert sleeps.delays == []
    assert warnings.lines == []


async def test_failures_are_retried_with_doubling_delays_up_to_the_maximum(
    warnings: Warnings,
) -> None:
    errors = [OSError("refused"), ValueError("bad"), OSError("refused"), OSError("refused")]
    operation, sleeps, seen = Flaky(*errors), Sleeps(), []
    result = await retry_forever(
        operation,
        what="append",
        initial=0.1,
        maximum=0.4,
        sleep=sleeps,
        on_retry=seen.append,
        log_fields={"event_id": "e-1", "offset": 7},
    )
    assert result == "done"
    assert operation.calls == 5
    assert sleeps.delays == [0.1, 0.2, 0.4, 0.4]
    assert seen == errors
    assert warnings.lines[0] == (
        "append failed, will retry",
        {"event_id": "e-1", "offset": 7, "error": "OSError: refused", "retry_in": 0.1},
    )
    assert [fields["retry_in"] for _, fields in warnings.lines] == [0.1, 0.2, 0.4, 0.4]
    assert warnings.lines[1][1]["error"] == "ValueError: bad"


async def test_the_default_backoff_starts_at_a_fifth_of_a_second_and_stops_at_ten(
    warnings: Warnings,
) -> None:
    sleeps = Sleeps()
    await retry_forever(Flaky(*[OSError()] * 8), what="handler", sleep=sleeps)
    assert sleeps.delays == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]


async def test_a_permanent_error_gets_out_at_once(warnings: Warnings) -> None:
    class Poison(Exception):
        pass

    operation, sleeps, seen = Flaky(OSError("away"), Poison("never")), Sleeps(), []
    with pytest.raises(Poison, match="never"):
        await retry_forever(
            operation, what="handler", permanent=(Poison,), sleep=sleeps, on_retry=seen.append
        )
    assert operation.calls == 2
    assert sleeps.delays == [0.2]
    assert len(seen) == len(warnings.lines) == 1


async def test_cancellation_is_never_retried(warnings: Warnings) -> None:
    operation, sleeps = Flaky(asyncio.CancelledError()), Sleeps()
    with pytest.raises(asyncio.CancelledError):
        await retry_forever(operation, what="append", sleep=sleeps)
    assert operation.calls == 1
    assert sleeps.delays == []
    assert warnings.lines == []


async def test_a_task_cancelled_while_backing_off_stops(warnings: Warnings) -> None:
    operation = Flaky(*[OSError("down")] * 1000)
    backing_off = asyncio.Event()

    async def sleep(delay: float) -> None:
        backing_off.set()
        await asyncio.sleep(delay)

    task = asyncio.create_task(retry_forever(operation, what="parking", initial=30.0, sleep=sleep))
    await asyncio.wait_for(backing_off.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert operation.calls == 1


async def test_each_attempt_and_its_warning_run_inside_the_attempt_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    @contextlib.contextmanager
    def attempt() -> Iterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("exit")

    class Log:
        def warning(self, event: str, **_: Any) -> None:
            events.append("warning")

    async def sleep(_: float) -> None:
        events.append("sleep")

    async def operation() -> str:
        events.append("call")
        if events.count("call") < 2:
            raise OSError("once")
        return "done"

    monkeypatch.setattr(retry, "log", Log())
    assert await retry_forever(operation, what="handler", sleep=sleep, attempt_context=attempt)
    assert events == ["enter", "call", "warning", "exit", "sleep", "enter", "call", "exit"]
