"""Limits before authentication: body size (413) and body read time (408) at the door,
per-staff read buckets (429 with Retry-After), and the header read timeout of the
HTTP protocol, measured on a real server with slow-header sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI
from starlette.types import Message, Receive, Scope, Send

from onceonly.platform.auth import StaffApi, StaffIdentity, StaffTokens, staff_dependency
from onceonly.platform.http import install_problem_handlers
from onceonly.platform.limits import (
    ApiLimits,
    BodyLimitMiddleware,
    RateLimiter,
    install_limits,
    serve_options,
)
from onceonly.platform.secrets import KeyRing
from onceonly.platform.testing import eventually, free_port

KEYS = "k1:a-key-for-the-limits-tests-of-32-bytes-or-more"
TOKENS = StaffTokens(
    api=StaffApi.DEPARTMENT,
    keys=KeyRing.parse(KEYS, setting="TEST_KEYS"),
    max_lifetime=timedelta(hours=12),
)
LIMITS = ApiLimits(
    max_body_bytes=1024, body_read_seconds=0.5, staff_read_rate_per_second=0.01, staff_read_burst=3
)

# At module level: the routes' annotations are strings, resolved in this module.
Staff = Annotated[StaffIdentity, Depends(staff_dependency(TOKENS))]


def staff_app(limits: ApiLimits = LIMITS) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_limits(app, limits)

    @app.get("/v1/things")
    async def things(who: Staff) -> dict[str, str]:
        return {"staff": who.staff_id}

    @app.post("/v1/things")
    async def change(who: Staff, body: dict[str, str]) -> dict[str, str]:
        return body

    return app


def bearer(staff_id: str) -> dict[str, str]:
    token = TOKENS.issue(staff_id=staff_id, department_code="tax")
    return {"authorization": f"Bearer {token}"}


async def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_an_oversized_unauthenticated_post_is_413_before_its_body_is_read() -> None:
    reads = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not be reached")

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/things",
        "raw_path": b"/v1/things",
        "query_string": b"",
        "headers": [(b"content-length", str(100 * 1024 * 1024).encode())],
    }
    await BodyLimitMiddleware(app, limit=1024, read_seconds=1)(scope, receive, send)
    assert sent[0]["status"] == 413 and reads == 0


async def test_a_path_may_have_a_limit_of_its_own() -> None:
    # Intake's uploads of materials take more than its JSON bodies.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def answered(path: str, size: int) -> int:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"x" * size, "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [],
        }
        limits = BodyLimitMiddleware(
            app, limit=1024, read_seconds=1, by_path={"/v1/materials": 4096}
        )
        await limits(scope, receive, send)
        return sent[0]["status"]

    assert await answered("/v1/materials", 3000) == 201
    assert await answered("/v1/materials", 5000) == 413
    assert await answered("/v1/applications", 3000) == 413


async def test_the_api_answers_413_not_401_to_an_unauthenticated_large_post() -> None:
    async with await client(staff_app()) as http:
        answer = await http.post("/v1/things", content=b"{" + b" " * 5000 + b"}")
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("payload-too-large")


async def test_a_chunked_body_is_counted_and_refused_once_past_the_limit() -> None:
    sent_chunks = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent_chunks
        for _ in range(100):
            sent_chunks += 1
            yield b"x" * 512

    async with await client(staff_app()) as http:
        answer = await http.post("/v1/things", content=chunks(), headers=bearer("s-1"))
    assert answer.status_code == 413


async def test_a_body_that_stalls_is_408() -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"a":'
        await asyncio.sleep(5)
        yield b'"b"}'

    async with await client(staff_app()) as http:
        started = time.monotonic()
        answer = await http.post(
            "/v1/things",
            content=stalls(),
            headers={**bearer("s-1"), "content-type": "application/json"},
        )
    assert answer.status_code == 408
    assert time.monotonic() - started < 3


async def test_a_small_authenticated_post_passes() -> None:
    async with await client(staff_app()) as http:
        answer = await http.post("/v1/things", json={"a": "b"}, headers=bearer("s-1"))
    assert answer.status_code == 200 and answer.json() == {"a": "b"}


async def test_reads_are_limited_per_staff_member_with_retry_after() -> None:
    async with await client(staff_app()) as http:
        first = [await http.get("/v1/things", headers=bearer("s-1")) for _ in range(3)]
        refused = await http.get("/v1/things", headers=bearer("s-1"))
        other = await http.get("/v1/things", headers=bearer("s-2"))
        change = await http.post("/v1/things", json={"a": "b"}, headers=bearer("s-1"))
    assert [answer.status_code for answer in first] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "100"  # whole seconds until a token is back
    assert refused.json()["type"].endswith("rate-limited")
    assert other.status_code == 200  # another staff member has a bucket of their own
    assert change.status_code == 200  # changes are not read-limited


def test_a_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_second=2.0, burst=1, clock=lambda: now[0])
    assert limiter.take("s") is None
    assert limiter.take("s") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("s") is None


@contextlib.asynccontextmanager
async def serving(app: FastAPI, **options: object) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, within=10, what="the server started")
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def slow_header_sockets(port: int, count: int, *, for_seconds: float) -> list[float]:
    """`count` connections that send a header a few bytes at a time and never finish it;
    for each, the seconds after which the server closed it (for_seconds if it did not)."""

    async def one() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /v1/things HTTP/1.1\r\nHost: api\r\n")
        try:
            while time.monotonic() - started < for_seconds:
                writer.write(b"X-Slow: 1\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                        return time.monotonic() - started
        except ConnectionError:
            return time.monotonic() - started
        finally:
            writer.close()
        return for_seconds

    return await asyncio.gather(*(one() for _ in range(count)))


@pytest.mark.timeout(60)
async def test_slow_header_sockets_are_closed_after_the_header_timeout() -> None:
    app = staff_app()
    async with serving(app, **serve_options(header_seconds=1.0, keep_alive_seconds=5)) as port:
        closed_after = await slow_header_sockets(port, 20, for_seconds=6)
        # A normal request on the same server still works.
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/v1/things", headers=bearer("s"))
    assert answer.status_code == 200
    assert max(closed_after) < 3, closed_after


@pytest.mark.timeout(60)
async def test_without_the_guard_uvicorn_keeps_slow_header_sockets_open() -> None:
    # What the guard is for: uvicorn's own options (timeout_keep_alive) do not close them.
    async with serving(staff_app(), http="httptools", timeout_keep_alive=1) as port:
        closed_after = await slow_header_sockets(port, 5, for_seconds=4)
    assert min(closed_after) == 4
