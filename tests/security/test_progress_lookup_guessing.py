"""Brute force of the citizen progress lookup (`GET /v1/progress`, no key), against the
real intake process listening on loopback, where the old code believed X-Forwarded-For:
a guesser who sends a new spoofed address with every attempt escapes neither the lockout
of the application code nor the limit per client address."""

from __future__ import annotations

import httpx

from .conftest import System, submit


async def lookup(http: httpx.AsyncClient, code: str, last4: str, n: int) -> httpx.Response:
    return await http.get(
        "/v1/progress",
        params={"code": code, "last4": last4},
        headers={"X-Forwarded-For": f"203.0.113.{n % 250}, 198.51.100.{n % 250}"},
    )


async def test_spoofed_forwarded_for_does_not_escape_lockout(system: System) -> None:
    submitted = await submit(system, mobile="13800005678")
    async with httpx.AsyncClient(base_url=system.intake, timeout=20) as http:
        assert (await lookup(http, submitted.code, "5678", 0)).status_code == 200  # control
        wrong = [await lookup(http, submitted.code, f"{n:04d}", n + 1) for n in range(5)]
        assert {answer.status_code for answer in wrong} == {404}
        # Locked: the right digits, from yet another "address", answer like a wrong guess.
        right = await lookup(http, submitted.code, "5678", 99)
    assert (right.status_code, right.content) == (404, wrong[0].content)


async def test_spoofed_forwarded_for_does_not_escape_the_address_limit(system: System) -> None:
    """The suite runs intake with 20 lookups a minute per address (SYSTEM_SETTINGS)."""
    submitted = await submit(system, mobile="13800004321")
    async with httpx.AsyncClient(base_url=system.intake, timeout=20) as http:
        # Right digits each time: no lockout, only the address limit can say no.
        statuses = [(await lookup(http, submitted.code, "4321", n)).status_code for n in range(30)]
    assert statuses[0] == 200
    assert 429 in statuses, statuses
    assert statuses.count(200) <= 20
