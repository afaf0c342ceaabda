"""What every HTTP API shares: RFC 9457 problem responses, health and metrics routes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import asyncpg
import structlog

# asyncpg's client-side "invalid input for query argument $N: <the value>" error: it is
# not exported under its own name (`asyncpg.DataError` is Postgres' class 22).
from asyncpg.exceptions._base import DataError as ArgumentDataError
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEMS = "https://onceonly.dev/problems/"  # every problem type is a page under it


class Problem(Exception):
    """An error meant for the client, rendered as RFC 9457 problem+json."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "instance": instance,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        errors.append(
            {
                "field": ".".join(location[1:]) or ".".join(location),
                "in": location[0] if location else "body",
                "message": error.get("msg", "invalid"),
                "code": error.get("type", "invalid"),
            }
        )
    return errors


def invalid_request(errors: list[dict[str, Any]]) -> Problem:
    """The 422 of every API for fields that do not validate, each named in `errors`."""
    return Problem(
        422,
        "Invalid request",
        "One or more fields are invalid; see `errors`. 请求中有字段不合法, 详见 errors.",
        type_="https://onceonly.dev/problems/validation",
        errors=errors,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error answers problem+json; unexpected ones never leak a stack trace."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(invalid_request(_field_errors(exc)), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            Problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)),
            request,
        )

    @app.exception_handler(asyncpg.DataError)
    @app.exception_handler(ArgumentDataError)
    async def _data_error(request: Request, exc: Exception) -> JSONResponse:
        # A value the request carried that Postgres (or asyncpg's encoder) cannot take.
        # The message and the traceback's locals hold that value, personal data perhaps:
        # only the SQLSTATE, the argument's position and the route are logged.
        log.warning(
            "request refused: a value the database cannot take",
            error=type(exc).__name__,
            sqlstate=getattr(exc, "sqlstate", None),
            argument=_argument_position(exc),
            route=_route_template(request),
        )
        return problem_response(
            Problem(
                422,
                "Invalid request",
                "A value of the request cannot be stored or compared (out of range, or a"
                " control character). 请求中有无法处理的取值 (超出范围或含控制字符).",
                type_="https://onceonly.dev/problems/validation",
            ),
            request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem_response(
            Problem(500, "Internal error", "The error was logged; please retry later."), request
        )


_ARGUMENT = re.compile(r"query argument \$([0-9]+)")


def _argument_position(exc: Exception) -> int | None:
    found = _ARGUMENT.search(str(exc)) if isinstance(exc, ArgumentDataError) else None
    return int(found.group(1)) if found else None


def _route_template(request: Request) -> str:
    """`/v1/applications/{application_code}` rather than the path with its values."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "") or "unmatched")


HealthCheck = Callable[[], Awaitable[dict[str, str]]]


class HealthView(BaseModel):
    """The answer of `/health`, documented for both of its status codes."""

    status: Literal["ok", "unavailable"]
    problems: dict[str, str] = Field(
        description="What is wrong, by component (empty when ok)",
        examples=[{"intake-relay": "last heartbeat 45s ago"}],
    )


def health_router(check: HealthCheck, *, ready: HealthCheck | None = None) -> APIRouter:
    """`/health`: the service as a whole, `check` (this process's dependencies and the
    heartbeats of its service's background processes): what `make up` and operators wait
    for. `/ready`: only what this process needs to serve requests, `ready` (default:
    `check`), for a readiness probe: a relay that is down must not take every intake API
    replica out of its load balancer, since submissions still wait safely in the outbox.
    Each answers 200 without problems, else 503; and `/metrics`."""
    router = APIRouter(tags=["operations"])

    async def answer(probe: HealthCheck) -> JSONResponse:
        try:
            problems = await probe()
        except Exception as exc:
            problems = {"check": f"{type(exc).__name__}: {exc}"}
        status = "ok" if not problems else "unavailable"
        return JSONResponse(
            {"status": status, "problems": problems}, status_code=200 if not problems else 503
        )

    @router.get(
        "/health",
        summary="Health of this service and its background processes",
        response_model=HealthView,
        responses={503: {"model": HealthView, "description": "A dependency is not ready"}},
    )
    async def health() -> JSONResponse:
        return await answer(check)

    @router.get(
        "/ready",
        summary="Readiness of this process to serve requests (its own dependencies only)",
        response_model=HealthView,
        responses={503: {"model": HealthView, "description": "A dependency is not ready"}},
    )
    async def readiness() -> JSONResponse:
        return await answer(ready or check)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
