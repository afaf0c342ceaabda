"""Intake's access log: one line per request, with the route template, status, duration,
request id and integrator, and nothing the caller typed (names, mobile numbers, ID
numbers, the progress lookup's last digits, the API key)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send
from structlog.testing import capture_logs

from .conftest import IntegratorCredentials

NAME = "张三丰"
MOBILE = "13812345678"
RESIDENT_ID = "11010519491231002X"
LINE_FIELDS = {
    "event",
    "log_level",
    "service",
    "method",
    "route",
    "status",
    "duration_ms",
    "request_id",
    "application_code",
    "integrator_id",
}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Each request in a task of its own, as the server runs them: what one request
    binds to the log context (its integrator) must not show on the next one's line."""

    async def served(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.create_task(app(scope, receive, send))

    transport = httpx.ASGITransport(app=served)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as created:
        yield created


def _requests(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in entries if entry.get("event") == "request"]


async def test_every_request_has_one_line_without_personal_data(
    client: httpx.AsyncClient,
    integrator: IntegratorCredentials,
    person_application: dict[str, Any],
) -> None:
    assert person_application["applicant"]["name"] == NAME
    assert person_application["contact"]["mobile"] == MOBILE
    headers = {**integrator.headers, "Idempotency-Key": str(uuid.uuid4())}
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as entries:
        submitted = await client.post("/v1/applications", json=person_application, headers=headers)
        assert submitted.status_code == 201, submitted.text
        code = submitted.json()["application_code"]
        progress = await client.get("/v1/progress", params={"code": code, "last4": MOBILE[-4:]})
        assert progress.status_code == 200, progress.text
        wrong = await client.get("/v1/progress", params={"code": code, "last4": "0000"})
        read = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
        assert read.status_code == 200, read.text
        refused = await client.get(f"/v1/applications/{code}")

    lines = _requests(entries)
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/v1/applications", 201),
        ("GET", "/v1/progress", 200),
        ("GET", "/v1/progress", wrong.status_code),
        ("GET", "/v1/applications/{application_code}", 200),
        ("GET", "/v1/applications/{application_code}", refused.status_code),
    ]
    answers = [submitted, progress, wrong, read, refused]
    for line, answer in zip(lines, answers, strict=True):
        assert line["service"] == "intake"
        assert line["request_id"] == answer.headers["X-Request-Id"]
        assert isinstance(line["duration_ms"], float)
    assert [line.get("integrator_id") for line in lines] == [
        integrator.id,
        None,  # the citizen's lookup has no integrator
        None,
        integrator.id,
        None,  # refused: nobody was authenticated
    ]
    # The code where the route names it; the lookup's query values never.
    assert lines[3]["application_code"] == code
    assert "application_code" not in lines[1]

    # Only these fields: the lookup's digits (a query value) have nowhere to be.
    for line in lines:
        assert set(line) <= LINE_FIELDS, sorted(set(line) - LINE_FIELDS)
    written = json.dumps(entries, ensure_ascii=False, default=str)
    secret = integrator.api_key.rsplit("_", 1)[-1]
    for value in (NAME, MOBILE, RESIDENT_ID, "last4", secret, "Bearer"):
        assert value not in written, f"{value!r} in the log"


async def test_a_callers_request_id_is_kept_only_if_it_is_a_uuid(
    client: httpx.AsyncClient,
) -> None:
    mine = str(uuid.uuid4())
    with capture_logs() as entries:
        kept = await client.get("/v1/matters", headers={"X-Request-Id": mine})
        replaced = await client.get("/v1/matters", headers={"X-Request-Id": RESIDENT_ID})
    assert kept.headers["X-Request-Id"] == mine
    assert replaced.headers["X-Request-Id"] != RESIDENT_ID
    assert [line["request_id"] for line in _requests(entries)] == [
        mine,
        replaced.headers["X-Request-Id"],
    ]
    assert RESIDENT_ID not in json.dumps(entries, ensure_ascii=False)


async def test_health_is_logged_at_debug_level(client: httpx.AsyncClient) -> None:
    with capture_logs() as entries:
        await client.get("/health")
    [line] = _requests(entries)
    assert (line["route"], line["log_level"]) == ("/health", "debug")
