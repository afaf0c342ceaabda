"""Authentication by API key, and each integrator seeing only its own applications."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
import pytest

from onceonly.intake.settings import IntakeSettings
from onceonly.intake.store import IntegratorStore
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration


def assert_unauthorised(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-key",
        "Bearer oo_0123456789abcdef_" + "A" * 43,  # well-formed, unknown key id
    ],
)
async def test_requests_without_a_valid_key_are_refused(
    client: httpx.AsyncClient, person_application: dict[str, Any], authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_unauthorised(
        await client.post("/v1/applications", json=person_application, headers=headers)
    )
    assert_unauthorised(
        await client.get("/v1/applications/330100-20250303-0004276", headers=headers)
    )


async def test_a_wrong_secret_is_refused(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    forged = f"oo_{integrator.key_id}_" + "B" * 43
    response = await client.post(
        "/v1/applications", json=person_application, headers={"Authorization": f"Bearer {forged}"}
    )
    assert_unauthorised(response)


async def test_a_revoked_key_is_refused_within_the_key_cache_seconds(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    pool: asyncpg.Pool,
    settings: IntakeSettings,
) -> None:
    before = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    assert before.status_code == 201  # the key is verified, and remembered
    code = before.json()["application_code"]
    store = IntegratorStore(pool)
    spare = await store.create_key(integrator.id)
    await store.revoke_key(integrator.key_id)
    revoked = time.monotonic()

    cache = settings.integrator_key_cache_seconds
    after = await eventually(
        lambda: client.get(f"/v1/applications/{code}", headers=integrator.headers),
        lambda response: response.status_code != 200,
        within=cache + 5.0,
        what="the revoked key refused",
        interval=0.05,
    )
    assert_unauthorised(after)
    assert time.monotonic() - revoked < cache + 1.0
    assert_unauthorised(
        await client.post("/v1/applications", json=person_application, headers=integrator.headers)
    )
    # The integrator's other key still works, and sees the application.
    read = await client.get(
        f"/v1/applications/{code}", headers={"Authorization": f"Bearer {spare.token}"}
    )
    assert read.status_code == 200


async def test_an_integrator_reads_its_own_application_masked(
    client: httpx.AsyncClient, integrator: Any, person_application: dict[str, Any]
) -> None:
    created = await client.post(
        "/v1/applications", json=person_application, headers=integrator.headers
    )
    code = created.json()["application_code"]

    response = await client.get(f"/v1/applications/{code}", headers=integrator.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["application_code"] == code
    assert body["status"] == "submitted"
    assert body["matter_code"] == "household-transfer"
    assert body["applicant"] == {
        "kind": "person",
        "name": "张**",
        "identifier": "1101**************",
    }
    assert body["contact"]["mobile"] == "1381234****"
    assert body["submitted_at"] == created.json()["submitted_at"]
    assert body["materials"] == person_application["materials"]
    for secret in ("11010519491231002X", "13812345678", "张三丰"):
        assert secret not in response.text


async def test_another_integrators_application_is_not_found(
    client: httpx.AsyncClient, new_integrator: Any, person_application: dict[str, Any]
) -> None:
    owner, stranger = await new_integrator(), await new_integrator()
    created = await client.post("/v1/applications", json=person_application, headers=owner.headers)
    code = created.json()["application_code"]

    response = await client.get(f"/v1/applications/{code}", headers=stranger.headers)

    # 404, not 403: a stranger cannot even learn that the code exists.
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    unknown = await client.get("/v1/applications/330100-20000101-0000013", headers=stranger.headers)
    assert unknown.status_code == 404
    assert {k: v for k, v in response.json().items() if k not in ("detail", "instance")} == {
        k: v for k, v in unknown.json().items() if k not in ("detail", "instance")
    }


@pytest.mark.parametrize("code", ["nonsense", "330100-20250303-0004275", "330100-2025"])
async def test_malformed_or_mistyped_codes_are_not_found(
    client: httpx.AsyncClient, integrator: Any, code: str
) -> None:
    response = await client.get(f"/v1/applications/{code}", headers=integrator.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_overlong_code_is_a_validation_problem(
    client: httpx.AsyncClient, integrator: Any
) -> None:
    response = await client.get(f"/v1/applications/{'1' * 41}", headers=integrator.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "application_code"
