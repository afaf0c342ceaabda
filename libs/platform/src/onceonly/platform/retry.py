"""Retrying an operation with exponential backoff until it succeeds.

For consumers that must never skip a message: a failure (Postgres away, Kafka refusing)
is logged and the operation tried again, the delay doubling up to a maximum. Only
cancellation, and the exceptions named `permanent`, get out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


async def retry_forever(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    initial: float = 0.2,
    maximum: float = 10.0,
    sleep: Sleep = asyncio.sleep,
    permanent: tuple[type[Exception], ...] = (),
    on_retry: Callable[[Exception], object] | None = None,
    attempt_context: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
    log_fields: Mapping[str, Any] | None = None,
) -> T:
    """The result of the first attempt of `operation` that does not raise.

    After a failed attempt: `on_retry(error)`, a warning "<what> failed, will retry"
    with `log_fields`, the error and the delay, then `sleep(delay)`; the delay starts at
    `initial` and doubles up to `maximum`. An exception of a `permanent` type is raised
    at once; so is cancellation (CancelledError is not an Exception). Each attempt, and
    the warning about it, runs inside `attempt_context()` when given (e.g. a span per
    attempt); the sleep runs outside it.
    """
    delay = initial
    while True:
        with attempt_context() if attempt_context else contextlib.nullcontext():
            try:
                return await operation()
            except permanent:
                raise
            except Exception as exc:
                if on_retry is not None:
                    on_retry(exc)
                log.warning(
                    f"{what} failed, will retry",
                    **(log_fields or {}),
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=delay,
                )
        await sleep(delay)
        delay = min(delay * 2, maximum)
