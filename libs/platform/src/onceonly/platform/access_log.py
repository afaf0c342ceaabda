"""The access log: one structured line per HTTP request of every API.

A line says which route was asked (its template, never the concrete path), by which
method, with what status and in how long; who asked (the integrator, or the staff
member and department, once authenticated); the request id and, as every log line, the
trace id. When the route names an application, its code is on the line and on the
request's span (`onceonly.application_code`), so that the request can be found from the
application and the other way round.

Nothing else of the request is written: no query string (the citizen progress lookup
takes the last digits of a phone or ID number), no body, no header (Authorization among
them), no client address. `/health` and `/metrics` are logged at debug level: probes and
scrapes would otherwise drown the requests.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onceonly.platform.telemetry import RequestSpan
from onceonly.platform.uuids import random_uuid_text

log = structlog.get_logger("onceonly.access")

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's request id is kept only if it is a UUID: anything else could carry data.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The application code's shape (region-day-sequence and check character); a path value
# of any other shape is not written, whatever a client put there.
_APPLICATION_CODE = re.compile(r"[0-9]{6}-[0-9]{8}-[0-9]{6}[0-9X]")
_CODE_PARAMETERS = ("application_code", "code")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics"})


@dataclass(slots=True)
class Caller:
    """Who made the request, as its authentication found out."""

    integrator_id: str | None = None
    staff_id: str | None = None
    department: str | None = None


_caller: ContextVar[Caller | None] = ContextVar("onceonly_access_caller", default=None)


def identify_caller(
    *,
    integrator_id: str | None = None,
    staff_id: str | None = None,
    department: str | None = None,
) -> None:
    """Name the authenticated caller of the request being served on its access log
    line; the authentication dependencies call it (outside a request it does nothing)."""
    caller = _caller.get()
    if caller is None:
        return
    if integrator_id is not None:
        caller.integrator_id = integrator_id
    if staff_id is not None:
        caller.staff_id = staff_id
    if department is not None:
        caller.department = department


class AccessLogMiddleware:
    """Writes the access log line of every HTTP request and answers its request id in
    `X-Request-Id`. Add it last (outermost of the app's middleware), so that it sees the
    status that other middleware answers (413, 503)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        caller = Caller()
        token = _caller.set(caller)
        # An exception that escapes the app is answered 500 by the server's outermost
        # handler, outside this middleware.
        status = 500
        started = time.perf_counter()
        # The request's server span (FastAPI's, made outside this middleware, while spans
        # are exported); the line below is written inside it, so it carries its ids.
        with RequestSpan(scope) as span:

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
                    message = {**message, "headers": headers}
                    code = application_code(scope)
                    if code and span.is_recording():
                        # Before the answer ends the span.
                        span.set_attribute("onceonly.application_code", code)
                await send(message)

            # Bound and reset by token: `bound_contextvars` reads every bound variable to
            # restore them, per request.
            bound = structlog.contextvars.bind_contextvars(request_id=request_id)
            try:
                await self.app(scope, receive, sending)
            finally:
                structlog.contextvars.reset_contextvars(**bound)
                _caller.reset(token)
                self._write_line(scope, status, started, request_id, caller)

    def _write_line(
        self, scope: Scope, status: int, started: float, request_id: str, caller: Caller
    ) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        fields: dict[str, object] = {
            "service": self.service,
            "method": scope["method"] if scope["method"] in _METHODS else "OTHER",
            "route": route,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "request_id": request_id,
        }
        code = application_code(scope)
        if code:
            fields["application_code"] = code
        for name in ("integrator_id", "staff_id", "department"):
            value = getattr(caller, name)
            if value:
                fields[name] = value
        if route in _QUIET_ROUTES:
            log.debug("request", **fields)
        else:
            log.info("request", **fields)


def application_code(scope: Scope) -> str | None:
    """The application code the matched route names in its path, if it has that shape."""
    parameters = scope.get("path_params") or {}
    for name in _CODE_PARAMETERS:
        value = parameters.get(name)
        if isinstance(value, str) and _APPLICATION_CODE.fullmatch(value):
            return value
    return None


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _UUID.fullmatch(text):
                return text.lower()
            break
    return random_uuid_text()
