"""ASGI middleware of the intake API: the body size limit, the request deadline, and
request metrics."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.intake import metrics
from onceonly.intake.problems import timed_out
from onceonly.platform.http import problem_response
from onceonly.platform.limits import too_large


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was read."""


class BodyLimitMiddleware:
    """Refuses bodies over `limit` bytes with 413, by Content-Length before reading, and
    by counting while reading when the length is not announced."""

    def __init__(self, app: ASGIApp, *, limit: int, by_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = limit
        # Paths with a limit of their own (uploads of materials).
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
                    announced = 0
                if announced > limit:
                    await _send_too_large(scope, receive, send, limit)
                    return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not refused:
                    # Answer 413 here: the framework would turn an error raised while it
                    # reads the body into a 400. What the app sends afterwards is dropped.
                    refused = True
                    await _send_too_large(scope, receive, send, limit)
                    raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        # The app may let BodyTooLarge escape; the 413 has been sent by then.
        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited, guarded)


async def _send_too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    request = Request(scope, receive)
    await problem_response(too_large(limit), request)(scope, receive, send)


class DeadlineMiddleware:
    """Answers 503 (with Retry-After) when a request is not answered within `seconds`:
    under overload a request waits for a database connection, and the client should
    hear so and retry rather than hang. Once the answer has started it is left to end.
    Only paths under `prefix`: /health keeps its own answer for load balancers."""

    def __init__(self, app: ASGIApp, *, seconds: float, prefix: str = "/") -> None:
        self.app = app
        self.seconds = seconds
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking)
        except TimeoutError:
            if started:
                raise
            metrics.TIMED_OUT.inc()
            request = Request(scope, receive)
            await problem_response(timed_out(self.seconds), request)(scope, receive, send)
