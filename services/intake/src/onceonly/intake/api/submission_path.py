"""POST /v1/applications, the API's hot route, answered straight from ASGI when the
request is one the route accepts as it stands.

Why: profiled at 1,000 submissions a second, FastAPI's routing and dependency
resolution (the body's validation aside) took about a quarter of the API's CPU per
submission (docs/performance.md, 2026-12-06 evening).

What it answers itself: a POST with no query string, the JSON media type, a body that
decodes as strict JSON (no duplicate key) and validates as `ApplicationIn`, and a
well-formed `Idempotency-Key` if one is sent. Any other request goes on to the app with
its body replayed, so every refusal of a request's shape keeps its one source (the
route, its dependencies and the request rules). Past those checks it takes the route's
own steps in the route's order (`authenticated`, `within_post_budget`,
`submission_answer`), and an exception they raise is answered by the app's own handler
for it; one no handler takes goes on to the server-error middleware, as from the route.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from opentelemetry import trace
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.intake import metrics
from onceonly.intake.api.applications import submission_answer
from onceonly.intake.api.dependencies import (
    IntakeState,
    authenticated,
    bearer,
    idempotency_at,
    within_post_budget,
)
from onceonly.intake.idempotency import validate_key
from onceonly.intake.schemas import ApplicationIn
from onceonly.platform.request_rules import json_media_type_accepted, strict_json

PATH = "/v1/applications"
# The two series, found once (`labels` takes a lock and checks its values per call).
_ANSWERED_HERE = metrics.SUBMISSION_PATH.labels("fast")
_LEFT_TO_ROUTE = metrics.SUBMISSION_PATH.labels("route")

ExceptionHandlers = Mapping[Any, Any]


class SubmissionFastPath:
    """ASGI middleware, innermost of the API's own (so the access log, the metrics, the
    deadline, the body limit and the security headers wrap it as they wrap the route)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: IntakeState,
        route: APIRoute,
        handlers: ExceptionHandlers,
    ) -> None:
        self.app = app
        self.state = state
        self.route = route
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        received, body = await _read_body(receive)
        replay = _replaying(received, receive)
        request = Request(scope, replay)
        headers = request.headers
        # A query string is left to the route's rules (it takes no query parameter).
        submitted = None if scope.get("query_string") else _accepted_shape(headers, body)
        if submitted is None:
            _LEFT_TO_ROUTE.inc()
            await self.app(scope, replay, send)
            return
        _ANSWERED_HERE.inc()
        # As the router would: the metrics and the access log name the route by it.
        scope["route"] = self.route
        span = trace.get_current_span()
        span.set_attribute("http.route", PATH)
        span.update_name(f"POST {PATH}")
        try:
            credentials = await bearer(request)
            integrator = await authenticated(
                self.state, credentials.credentials if credentials else None
            )
            await within_post_budget(self.state, integrator)
            # PATH is `request.url.path` here (matched exactly), without building the URL.
            key = idempotency_at(PATH, headers.get("idempotency-key"), submitted)
            response = await submission_answer(self.state, integrator, submitted, key)
        except Exception as exc:
            handler = _handler_for(self.handlers, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, replay, send)


def submission_route(router: APIRouter) -> APIRoute:
    """The route the fast path stands in for, from `router` (applications')."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path == PATH and "POST" in route.methods:
            return route
    raise LookupError(f"no POST {PATH} route")


def _accepted_shape(headers: Headers, body: bytes | None) -> ApplicationIn | None:
    """The submission, when the request's shape is one the route accepts."""
    content_type = headers.get("content-type")
    if body is None or content_type is None or not json_media_type_accepted(content_type):
        return None
    key = headers.get("idempotency-key")
    try:
        if key is not None:
            validate_key(key)  # the rule of the route's header (IDEMPOTENCY_KEY_PATTERN)
        return ApplicationIn.model_validate(strict_json(body))
    # InvalidValue (the key's), a duplicate key and malformed JSON are ValueErrors.
    except (ValueError, ValidationError):
        return None


def _handler_for(handlers: ExceptionHandlers, exc: Exception) -> Any:
    """The app's handler of `exc` as Starlette's exception middleware finds it (by the
    exception's classes, nearest first); the catch-all for `Exception` is the server-error
    middleware's and is left to it."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        handler = handlers.get(cls)
        if handler is not None:
            return handler
    return None


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The messages read and the whole body (None when the client went away first)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` giving `messages` again first."""
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay
