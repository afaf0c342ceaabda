"""ASGI middleware of the intake API: the request deadline (the body limit is the
platform's, `onceonly.platform.limits.BodyLimitMiddleware`)."""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.intake import metrics
from onceonly.intake.problems import timed_out
from onceonly.platform.http import problem_response


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
