"""The access log middleware on a small app: one line per request with the route
template, the caller its authentication named, the application code of the path, the
request id; never the query, the body or a header."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.types import Receive, Scope, Send
from structlog.testing import capture_logs

from onceonly.platform.access_log import AccessLogMiddleware, identify_caller
from onceonly.platform.http import install_problem_handlers

CODE = "330100-20250303-0004276"
MOBILE = "13812345678"
TOKEN = "staff-token-that-must-not-be-logged"


async def staff(request: Request) -> str:
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return ""
    identify_caller(staff_id="ps-0042", department="public-security")
    return "ps-0042"


def build_app(exported: InMemorySpanExporter) -> FastAPI:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    app = FastAPI(telemetry={"tracer_provider": provider, "logs": False})
    install_problem_handlers(app)
    app.add_middleware(AccessLogMiddleware, service="unit")

    @app.post("/v1/applications/{code}/decision")
    async def decide(code: str, body: dict[str, Any], who: Annotated[str, Depends(staff)]) -> dict:
        return {"code": code, "by": who}

    @app.get("/v1/search")
    async def search(mobile: str) -> dict:
        return {}

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError(MOBILE)

    return app


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exported: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(exported)

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        # A task per request, as a server runs them.
        await asyncio.create_task(app(scope, receive, send))

    transport = httpx.ASGITransport(app=served, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit.test") as created:
        yield created


def request_lines(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("event") == "request"]


async def test_one_line_per_request_with_route_caller_and_code(
    client: httpx.AsyncClient, exported: InMemorySpanExporter
) -> None:
    with capture_logs() as entries:
        decided = await client.post(
            f"/v1/applications/{CODE}/decision",
            json={"reason": MOBILE},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        searched = await client.get("/v1/search", params={"mobile": MOBILE})
        # A path value of another shape than a code is not written.
        other = await client.post(f"/v1/applications/{MOBILE}/decision", json={})
    assert decided.status_code == searched.status_code == other.status_code == 200
    first, second, third = request_lines(entries)
    assert first == {
        "event": "request",
        "log_level": "info",
        "service": "unit",
        "method": "POST",
        "route": "/v1/applications/{code}/decision",
        "status": 200,
        "duration_ms": first["duration_ms"],
        "request_id": decided.headers["X-Request-Id"],
        "application_code": CODE,
        "staff_id": "ps-0042",
        "department": "public-security",
    }
    assert uuid.UUID(first["request_id"])
    assert (second["route"], second["status"]) == ("/v1/search", 200)
    assert "application_code" not in third and "staff_id" not in third
    written = json.dumps(entries)
    for value in (MOBILE, TOKEN, "Bearer", "reason"):
        assert value not in written
    # The request's span carries the code, so that it is found from the application.
    servers = [span for span in exported.get_finished_spans() if span.kind.name == "SERVER"]
    assert [span.attributes.get("onceonly.application_code") for span in servers] == [
        CODE,
        None,
        None,
    ]


async def test_unmatched_paths_and_errors_have_their_line(client: httpx.AsyncClient) -> None:
    with capture_logs() as entries:
        missing = await client.get(f"/v1/people/{MOBILE}")
        failed = await client.get("/boom")
    assert (missing.status_code, failed.status_code) == (404, 500)
    first, second = request_lines(entries)
    assert (first["route"], first["status"]) == ("unmatched", 404)
    assert (second["route"], second["status"]) == ("/boom", 500)
    assert MOBILE not in json.dumps(request_lines(entries))


async def test_outside_a_request_identifying_does_nothing() -> None:
    identify_caller(integrator_id="nobody")  # no error, no line
