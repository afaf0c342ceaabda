"""The citizen progress lookup (no key, nothing personal, no oracle, limited per
address, per code and per deployment) and the per-integrator limit on POSTs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.intake.api import create_app
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.testing import migrated_pool

pytestmark = pytest.mark.integration


async def submit_receipt(
    client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    receipt: dict[str, Any] = response.json()
    return receipt


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    return str((await submit_receipt(client, integrator, application))["application_code"])


def personal_search_text(body: dict[str, Any], code: str) -> str:
    """A progress answer as text to search for personal data: without its own code and
    its steps' instants (digits too: once ".235678" held the "5678" searched for), each
    instant read as one first."""
    steps = body["last_steps"]
    for step in steps:
        datetime.fromisoformat(step["at"])
    without_instants = {
        **body,
        "last_steps": [{k: v for k, v in step.items() if k != "at"} for step in steps],
    }
    return json.dumps(without_instants, ensure_ascii=False).replace(code, "")


@asynccontextmanager
async def api_with(
    settings: IntakeSettings, pool: asyncpg.Pool, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=limits), pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            yield client


@pytest.mark.parametrize("secret", ["last4", "token"])
async def test_the_applicant_sees_status_and_matter_only(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any], secret: str
) -> None:
    receipt = await submit_receipt(client, integrator, person_application)
    code = receipt["application_code"]
    given = {"last4": "5678"} if secret == "last4" else {"token": receipt["progress_token"]}
    response = await client.get("/v1/progress", params={"code": code, **given})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        "application_code": code,
        "status": "submitted",
        "matter": {
            "code": "household-transfer",
            "name_zh": body["matter"]["name_zh"],
            "name_en": body["matter"]["name_en"],
        },
        "lookups": [],  # nothing looked up yet (no approval events in this test)
        # Not accepted yet: no date, nobody deciding, nothing asked for.
        "expected_completion": None,
        "deciding": [],
        "to_provide": [],
        "last_steps": [
            {"at": body["last_steps"][0]["at"], "zh": "已提交申请", "en": "Application submitted"}
        ],
    }
    # The code and the instants are digits too: look for personal data in everything else.
    text = personal_search_text(body, code)
    if secret == "token":
        text = text.replace(receipt["progress_token"], "")
    for personal in ("张", "138", "5678", "1101", "002X", "integrator", "doc://"):
        assert personal not in text


async def test_a_wrong_last4_answers_like_an_unknown_code(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    code = await submit(client, integrator, person_application)
    wrong = await client.get("/v1/progress", params={"code": code, "last4": "1234"})
    unknown = await client.get(
        "/v1/progress", params={"code": "330100-20000101-0000010", "last4": "5678"}
    )
    malformed = await client.get("/v1/progress", params={"code": "nonsense", "last4": "5678"})
    assert wrong.status_code == unknown.status_code == malformed.status_code == 404
    assert wrong.content == unknown.content == malformed.content
    assert wrong.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        {"code": "x"},
        {"last4": "1234"},
        {"code": "x", "last4": "12345"},
        {"code": "x", "last4": "abcd"},
        {"code": "x", "last4": "002X"},
        {"code": "x", "last4": "5678", "token": "q8ZpX1tR0m3nVb2cY5kLwA"},
        {"code": "x", "token": "short"},
        {"code": "x", "token": "q8ZpX1tR0m3nVb2cY5kLw="},
    ],
)
async def test_malformed_lookups_are_named(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await client.get("/v1/progress", params=query)
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_lookups_are_limited_per_address(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    integrator: Any,
    person_application: dict[str, Any],
) -> None:
    async with api_with(settings, pool, progress_burst=3, progress_rate_per_minute=1) as client:
        code = await submit(client, integrator, person_application)
        query = {"code": code, "last4": "0000"}
        answers = [await client.get("/v1/progress", params=query) for _ in range(3)]
        assert [a.status_code for a in answers] == [404, 404, 404]
        # Guessing the four digits stops here, right digits included.
        limited = await client.get("/v1/progress", params={"code": code, "last4": "5678"})
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["type"].endswith("/rate-limited")


async def test_posts_are_limited_per_integrator(
    settings: IntakeSettings,
    pool: asyncpg.Pool,
    new_integrator: Any,
    person_application: dict[str, Any],
) -> None:
    busy, calm = await new_integrator(), await new_integrator()
    async with api_with(
        settings, pool, integrator_post_burst=2, integrator_post_rate_per_second=0.01
    ) as client:
        code = await submit(client, busy, person_application)
        await submit(client, busy, person_application)
        limited = await client.post(
            f"/v1/applications/{code}/rating", json={"level": 5}, headers=busy.headers
        )
        # Reading is not limited, and another integrator has its own budget.
        read = await client.get(f"/v1/applications/{code}", headers=busy.headers)
        other = await client.post("/v1/applications", json=person_application, headers=calm.headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 60
    assert limited.json()["type"].endswith("/rate-limited")
    assert read.status_code == 200
    assert other.status_code == 201
    ratings = await pool.fetchval(
        "SELECT count(*) FROM intake.applicant_updates WHERE application_code = $1", code
    )
    assert ratings == 0


async def test_the_new_endpoints_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for update in ("supplements", "withdrawal", "rating"):
        post = paths[f"/v1/applications/{{application_code}}/{update}"]["post"]
        assert {"202", "404", "409", "422", "429"} <= set(post["responses"])
        assert post["responses"]["409"]["content"]["application/problem+json"]
    assert {"cursor", "limit", "matter_code", "status", "submitted_from", "submitted_to"} == {
        p["name"] for p in paths["/v1/applications"]["get"]["parameters"]
    }
    progress = paths["/v1/progress"]["get"]
    assert "security" not in progress
    assert "429" in progress["responses"]


async def test_a_request_that_waits_too_long_is_answered_503_not_left_hanging(
    settings: IntakeSettings, database_url: str, integrator: Any
) -> None:
    # One connection, held by someone else: the API cannot even check the key.
    async with (
        migrated_pool(
            database_url, component="intake", package="onceonly.intake", max_size=1
        ) as small,
        api_with(settings, small, request_timeout_seconds=0.5) as client,
    ):
        async with small.acquire():
            waiting = await client.get(
                "/v1/applications/330100-20250303-0004276", headers=integrator.headers
            )
        after = await client.get("/v1/matters")
    assert waiting.status_code == 503
    assert waiting.headers["content-type"] == "application/problem+json"
    assert int(waiting.headers["retry-after"]) >= 1
    assert waiting.json()["type"].endswith("/timeout")
    assert "Idempotency-Key" in waiting.json()["detail"]
    assert after.status_code == 200
