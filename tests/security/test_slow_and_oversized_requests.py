"""Slowloris and oversized bodies. Against a real API process (the tracking API, started
as deploy/local starts it, with a 2 s header timeout): 20 slow-header sockets are closed
within the header timeout, and a 100 MB unauthenticated POST is answered 413 after its
headers, without the body being sent or read. Then the same 100 MB POST, unauthenticated,
to every API of the system: a 413 from each before authentication (not a 401), while
the body is still unsent."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from onceonly.platform.testing import eventually
from tests.observability.processes import running

from .conftest import System

pytestmark = pytest.mark.integration

HEADER_SECONDS = 2.0


async def answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            await http.get(f"{url}/health")
        except httpx.TransportError:
            return False
    return True


async def slow_header(host: str, port: int, *, for_seconds: float) -> float:
    """Seconds until the server closed a connection whose headers trickle in forever."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    writer.write(b"GET /v1/supervision/figures HTTP/1.1\r\nHost: api\r\n")
    try:
        while time.monotonic() - started < for_seconds:
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return for_seconds


@pytest.mark.timeout(120)
async def test_slow_headers_and_large_bodies_on_a_real_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCEONLY_API_HEADER_TIMEOUT_SECONDS", str(HEADER_SECONDS))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    with running(["tracking-api"], otlp_endpoint="http://127.0.0.1:9", log_dir=tmp_path) as up:
        url = up.urls["tracking-api"]
        await eventually(lambda: answers(url), within=60, what="the tracking API")
        port = int(url.rsplit(":", 1)[1])

        started = time.monotonic()
        closed_after = await asyncio.gather(
            *(slow_header("127.0.0.1", port, for_seconds=20) for _ in range(20))
        )
        assert max(closed_after) < HEADER_SECONDS + 2, closed_after
        assert time.monotonic() - started < HEADER_SECONDS + 3

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/applications/330100-20261123-000001X/timeline HTTP/1.1\r\n"
            b"Host: api\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        assert status_line.split()[1] == b"413"

        assert await answers(url)  # the process serves on


async def status_of_headers_only(url: str, path: str) -> bytes:
    """The status an API answers to a POST of 100 MB whose body is never sent."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    return status_line.split()[1]


OVERSIZED = {
    "intake": "/v1/applications",
    "workflow": "/v1/applications/330100-20261123-0000016/tasks/tax/decision",
    "tracking": "/v1/applications/330100-20261123-0000016/timeline",
    "notify": "/v1/integrator/webhooks",
}


@pytest.mark.parametrize("api", list(OVERSIZED))
async def test_an_unauthenticated_100_mb_body_is_refused_before_authentication(
    system: System, api: str
) -> None:
    assert await status_of_headers_only(getattr(system, api), OVERSIZED[api]) == b"413"
