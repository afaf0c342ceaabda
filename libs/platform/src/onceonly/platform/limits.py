"""Resource limits every API applies before it authenticates anyone: the body size and
body read time (an ASGI middleware, outermost but for the access log), per-staff token
buckets on reads (429), and a header read timeout on the HTTP protocol itself (uvicorn
has no option for one).

These token buckets are in process: with N API processes a staff member gets up to N
times the rate. That bounds abuse and overload, which is the purpose for staff; the
limits outsiders meet are shared by the replicas (`onceonly.platform.shared_limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from onceonly.platform.http import PROBLEMS, Problem, problem_response

# Methods that only read: the ones the staff rate limit applies to.
READS = frozenset({"GET", "HEAD"})


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`take(key)` spends one token of the key's bucket: None when allowed, else the
    seconds until a token is back (for Retry-After)."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_second <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate_per_second > 0, burst >= 1 and max_keys >= 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._max_keys = max_keys
        self._clock = clock
        # Least recently used first: memory stays bounded however many clients come.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float | None:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                # A forgotten client starts again with a full bucket: the cost of a bound.
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up and at least 1 (Retry-After takes no fractions)."""
    return str(max(1, math.ceil(seconds)))


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "Request body too large",
        f"The request body may have at most {limit} bytes. 请求体不得超过 {limit} 字节.",
        type_=PROBLEMS + "payload-too-large",
    )


def body_timed_out(seconds: float) -> Problem:
    return Problem(
        408,
        "Request body too slow",
        f"The request body did not arrive within {seconds:g} seconds. 请求体接收超时.",
        type_=PROBLEMS + "request-timeout",
        headers={"Connection": "close"},
    )


def too_many_requests(retry_after: str) -> Problem:
    """The 429 of every rate limit (integrators' POSTs, citizens' lookups, staff reads)."""
    return Problem(
        429,
        "Too many requests",
        f"Rate limit reached; retry after {retry_after} seconds."
        f" 请求过于频繁, 请 {retry_after} 秒后重试.",
        type_=PROBLEMS + "rate-limited",
        headers={"Retry-After": retry_after},
    )


class _Refused(Exception):
    """The body broke a limit while the app read it; the problem has been sent."""


class BodyLimitMiddleware:
    """Refuses a body over `limit` bytes with 413, by Content-Length before anything
    reads it, and by counting while it is read when the length is not announced (chunked);
    and a body whose next chunk does not arrive within `read_seconds` with 408. It runs
    outside the routes, so before any authentication: an unauthenticated 100 MB POST
    costs one header line, not 100 MB. Paths in `by_path` have a limit of their own
    (intake's uploads of materials)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        read_seconds: float,
        by_path: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.default_limit = limit
        self.read_seconds = read_seconds
        self.by_path = by_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default_limit)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0  # the server refuses a malformed length itself
                if announced > limit:
                    await _send_problem(scope, send, too_large(limit))
                    return
        seen = 0
        body_done = False
        started = False  # the app has begun its answer
        refused = False  # this middleware has sent its problem instead

        async def refuse(problem: Problem) -> None:
            nonlocal refused
            if not started and not refused:
                refused = True
                await _send_problem(scope, send, problem)
            raise _Refused()

        async def limited() -> Message:
            nonlocal seen, body_done
            if body_done:
                # After the body only the disconnect is left to wait for: no deadline.
                return await receive()
            try:
                async with asyncio.timeout(self.read_seconds):
                    message = await receive()
            except TimeoutError:
                await refuse(body_timed_out(self.read_seconds))
            if message["type"] != "http.request":
                body_done = True
                return message
            seen += len(message.get("body", b""))
            body_done = not message.get("more_body", False)
            if seen > limit:
                # Answered here: the framework would turn an error raised while it reads
                # the body into a 400. What the app sends afterwards is dropped.
                await refuse(too_large(limit))
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        # The app may let _Refused escape; the problem has been sent by then.
        with contextlib.suppress(_Refused):
            await self.app(scope, limited, guarded)


async def _send_problem(scope: Scope, send: Send, problem: Problem) -> None:
    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    request = Request(scope, nothing)
    await problem_response(problem, request)(scope, nothing, send)


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """One API's limits (from its service's settings)."""

    max_body_bytes: int
    body_read_seconds: float
    staff_read_rate_per_second: float
    staff_read_burst: int


def install_limits(app: FastAPI, limits: ApiLimits) -> None:
    """The body limit as the outermost middleware so far (add the access log after it, so
    that it logs the 413s too), and the staff read limiter that `check_staff_rate`
    uses. Call after every other middleware but the access log."""
    app.add_middleware(
        BodyLimitMiddleware, limit=limits.max_body_bytes, read_seconds=limits.body_read_seconds
    )
    app.state.staff_read_limiter = RateLimiter(
        rate_per_second=limits.staff_read_rate_per_second, burst=limits.staff_read_burst
    )


def check_staff_rate(request: Request, staff_id: str) -> None:
    """429 (with Retry-After) when `staff_id` has spent its read bucket; only reads are
    limited (changes are few, and each is checked by the workflow anyway)."""
    limiter: RateLimiter | None = getattr(request.app.state, "staff_read_limiter", None)
    if limiter is None or request.method not in READS:
        return
    if getattr(request.state, "staff_rate_checked", False):
        return  # one request spends one token, however many dependencies authenticate
    request.state.staff_rate_checked = True
    wait = limiter.take(staff_id)
    if wait is not None:
        raise too_many_requests(retry_after_header(wait))


def header_timeout_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a header read timeout, which uvicorn lacks: a
    connection whose request line and headers are not complete `seconds` after the
    connection or the request's first byte is closed (its keep-alive timer is cancelled by
    every byte received, so a client trickling a header a byte at a time keeps it open)."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def serve_options(*, header_seconds: float, keep_alive_seconds: int) -> dict[str, Any]:
    """uvicorn.run's arguments for an API's connection limits."""
    return {
        "http": header_timeout_protocol(header_seconds),
        "timeout_keep_alive": keep_alive_seconds,
    }
