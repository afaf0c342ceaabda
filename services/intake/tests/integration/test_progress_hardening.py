"""The progress lookup hardened: X-Forwarded-For believed only from trusted proxies, a
lockout per application code and a budget of failures per deployment, both in Postgres
(shared by replicas), the ID number's last four no longer a secret, lookup tokens."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from onceonly.intake.api import create_app
from onceonly.intake.application_code import format_application_code
from onceonly.intake.cli import server_options
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

# A valid resident ID number whose last four are digits (so they could be typed as last4).
DIGITS_ID = "110105194912310118"


@asynccontextmanager
async def api_with(
    settings: IntakeSettings, pool: asyncpg.Pool, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=changes), pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)  # the peer is 127.0.0.1
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            yield client


async def submit(
    client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


def unknown_code(number: int) -> str:
    """A well-formed code of a day long past: no application has it."""
    return format_application_code("330100", date(2001, 1, 1), 900_000 + number)


async def lookup(client: httpx.AsyncClient, code: str, **secret: str) -> httpx.Response:
    return await client.get("/v1/progress", params={"code": code, **secret})


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(
    settings: IntakeSettings, pool: asyncpg.Pool
) -> None:
    limits = {"progress_burst": 3, "progress_rate_per_minute": 1}
    async with api_with(settings, pool, **limits) as client:
        answers = [
            await client.get(
                "/v1/progress",
                params={"code": unknown_code(n), "last4": "0000"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            for n in range(4)
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]


async def test_under_uvicorn_a_spoofed_forwarded_for_from_loopback_is_not_believed(
    settings: IntakeSettings,
) -> None:
    """As `onceonly-intake api` serves it: uvicorn used to believe the header from
    127.0.0.1 (754 spoofed lookups a second escaped the limit)."""
    served = settings.model_copy(update={"progress_burst": 3, "progress_rate_per_minute": 1})
    # Its own socket and event loop; every other option as the command serves it.
    options: dict[str, Any] = {
        key: value
        for key, value in server_options(served).items()
        if key not in {"host", "port", "loop"}
    }
    server = uvicorn.Server(uvicorn.Config(create_app(served), lifespan="on", **options))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    try:
        await eventually(lambda: asyncio.to_thread(lambda: server.started), within=60)
        async with httpx.AsyncClient(base_url=base_url) as client:
            answers = [
                await client.get(
                    "/v1/progress",
                    params={"code": unknown_code(40 + n), "last4": "0000"},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                )
                for n in range(4)
            ]
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)
        listener.close()
    assert [a.status_code for a in answers] == [404, 404, 404, 429]


async def test_forwarded_for_is_believed_from_a_configured_proxy(
    settings: IntakeSettings, pool: asyncpg.Pool
) -> None:
    limits = {"progress_burst": 1, "progress_rate_per_minute": 1}
    async with api_with(settings, pool, trusted_proxies="127.0.0.0/8", **limits) as client:

        async def from_client(address: str, n: int) -> int:
            response = await client.get(
                "/v1/progress",
                params={"code": unknown_code(10 + n), "last4": "0000"},
                # What the client typed, then what our proxy saw.
                headers={"X-Forwarded-For": f"6.6.6.{n}, {address}"},
            )
            return response.status_code

        # Two clients behind the proxy have a bucket each; a typed entry changes nothing.
        assert [await from_client("198.51.100.1", n) for n in range(2)] == [404, 429]
        assert await from_client("198.51.100.2", 3) == 404


async def test_five_wrong_answers_lock_the_code_on_every_replica(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    changes = {"progress_burst": 100, "progress_lockout_seconds": 2.0}
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(api_with(settings, pool, **changes))
        second = await stack.enter_async_context(api_with(settings, pool, **changes))
        receipt = await submit(first, integrator, person_application)
        code = receipt["application_code"]
        wrong = [await lookup((first, second)[n % 2], code, last4="0000") for n in range(5)]
        assert [a.status_code for a in wrong] == [404] * 5
        # Locked: the right digits answer exactly like wrong ones, on either replica.
        locked_at = time.monotonic()
        for replica in (first, second):
            right = await lookup(replica, code, last4="5678")
            assert (right.status_code, right.content) == (404, wrong[0].content)
        # The SMS link's token still opens it: the lock guards four digits, not a token.
        by_token = await lookup(second, code, token=receipt["progress_token"])
        assert by_token.status_code == 200
        # Once the lock ends, the right digits open it again.
        await eventually(
            lambda: lookup(first, code, last4="5678"),
            lambda response: response.status_code == 200,
            within=15.0,
            what="the lock's end",
            interval=0.2,
        )
        assert time.monotonic() - locked_at >= 1.0


async def test_the_failures_per_minute_are_a_budget_of_the_deployment(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    # Not across a minute's end: the budget counts per calendar minute.
    await eventually(
        lambda: asyncio.sleep(0, datetime.now(UTC).second),
        lambda second: second < 50,
        within=15.0,
        interval=0.5,
        what="ten seconds or more before the minute's end",
    )
    changes = {"progress_burst": 100, "progress_failures_per_minute": 3}
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(api_with(settings, pool, **changes))
        second = await stack.enter_async_context(api_with(settings, pool, **changes))
        receipt = await submit(first, integrator, person_application)
        code = receipt["application_code"]
        # Three wrong answers on three codes (no lockout involved), on two replicas.
        for n, replica in enumerate((first, second, first)):
            assert (await lookup(replica, unknown_code(20 + n), last4="0000")).status_code == 404
        limited = await lookup(second, code, last4="5678")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["type"].endswith("/rate-limited")
        # Tokens are not guessable: a right one still answers.
        by_token = await lookup(first, code, token=receipt["progress_token"])
        assert by_token.status_code == 200
    # Another deployment (its own topic prefix) has its own budget.
    async with api_with(settings, pool, topic_prefix=settings.topic_prefix + "-b") as other:
        assert (await lookup(other, code, last4="5678")).status_code == 200


async def test_the_id_numbers_last_four_no_longer_open_the_lookup(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    person_application["applicant"]["identifier"] = DIGITS_ID
    receipt = await submit(client, integrator, person_application)
    code = receipt["application_code"]
    assert (await lookup(client, code, last4=DIGITS_ID[-4:])).status_code == 404
    assert (await lookup(client, code, last4="5678")).status_code == 200
    shown = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert shown.json()["applicant"]["identifier"] == "1101**************"


async def test_a_token_opens_its_own_application_only(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    one = await submit(client, integrator, person_application)
    two = await submit(client, integrator, person_application)
    code, token = one["application_code"], one["progress_token"]
    assert (await lookup(client, code, token=token)).status_code == 200
    another = await lookup(client, code, token=two["progress_token"])
    wrong = await lookup(client, code, token=("A" if token[0] != "A" else "B") + token[1:])
    unknown = await lookup(client, unknown_code(30), token=token)
    digits = await lookup(client, code, last4="0000")
    assert {r.status_code for r in (another, wrong, unknown, digits)} == {404}
    assert another.content == wrong.content == unknown.content == digits.content


async def test_a_replayed_receipt_carries_the_same_token(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    headers = {**integrator.headers, "Idempotency-Key": f"token-{time.time_ns()}"}
    answers = [
        await client.post("/v1/applications", json=person_application, headers=headers)
        for _ in range(2)
    ]
    assert answers[1].headers.get("idempotent-replayed") == "true"
    assert answers[0].content == answers[1].content
    assert len(answers[0].json()["progress_token"]) == 22
