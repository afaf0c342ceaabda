"""Public e-licence verification on the test database: a licence intake saw issued is
genuine; a changed byte, a key not published, an expired one and a number never issued
get their answers; a revocation followed from the approval events makes it revoked. The
answer shows the licence's face only, never the applicant's data."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from onceonly.events.v1 import approval_pb2
from onceonly.intake.api import create_app
from onceonly.intake.approval_follower import ApprovalFollower
from onceonly.intake.settings import IntakeSettings
from onceonly.platform.elicence_signatures import SigningKeys
from onceonly.platform.envelope import new_envelope
from onceonly.platform.secrets import DEVELOPMENT_ELICENCE_SIGNING_KEYS

pytestmark = pytest.mark.integration

KEYS = SigningKeys.parse(DEVELOPMENT_ELICENCE_SIGNING_KEYS, setting="test")
VERIFY = "/v1/elicences/verification"


async def submit(client: httpx.AsyncClient, integrator: Any, application: dict[str, Any]) -> str:
    response = await client.post("/v1/applications", json=application, headers=integrator.headers)
    assert response.status_code == 201, response.text
    return response.json()["application_code"]


def licence(code: str, *, valid_days: int = 365, keys: SigningKeys = KEYS) -> str:
    now = datetime.now(UTC)
    return keys.sign(
        keys.payload_for(
            number=f"EL-{code}",
            licence_type="household-transfer-certificate",
            holder_masked="1101**************",
            issuer_region=code.partition("-")[0],
            issued_at=now - timedelta(days=400),
            valid_until=now + timedelta(days=valid_days),
        )
    )


async def follow(follower: ApprovalFollower, code: str, message: Message) -> None:
    await follower.handle(new_envelope(message, source="/onceonly/workflow", application_code=code))


def completed(code: str) -> approval_pb2.ApplicationCompleted:
    return approval_pb2.ApplicationCompleted(
        application_code=code,
        matter_code="household-transfer",
        elicence_number=f"EL-{code}",
        elicence_type="household-transfer-certificate",
        elicence_holder_masked="1101**************",
    )


async def check(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(VERIFY, params={"t": token})
    assert response.status_code == 200, response.text
    # Nothing of the applicant but the masked identifier the licence shows.
    for personal in ("张三丰", "11010519491231002X", "13812345678"):
        assert personal not in response.text
    return response.json()


async def test_each_outcome_online(
    client: httpx.AsyncClient,
    integrator: Any,
    person_application: dict[str, Any],
    settings: IntakeSettings,
    pool: asyncpg.Pool,
) -> None:
    follower = ApprovalFollower.from_settings(pool, settings)
    code = await submit(client, integrator, person_application)
    expired_code = await submit(client, integrator, person_application)
    never_issued = await submit(client, integrator, person_application)
    await follow(follower, code, completed(code))
    await follow(follower, expired_code, completed(expired_code))
    token = licence(code)

    genuine = await check(client, token)
    assert genuine["outcome"] == "genuine"
    assert genuine["licence"]["number"] == f"EL-{code}"
    assert genuine["licence"]["holder_masked"] == "1101**************"
    assert genuine["licence"]["key_id"] == "dev-elicence"

    payload, signature = token.split(".")
    data = bytearray(base64.urlsafe_b64decode(payload + "=="))
    data[data.index(b"1101")] = ord("2")  # another holder
    tampered = base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()
    assert await check(client, f"{tampered}.{signature}") == {
        "outcome": "unknown",
        "reason": "the signature does not match the licence",
        "licence": None,
    }

    stranger = SigningKeys.parse(
        "rogue:" + base64.b64encode(os.urandom(32)).decode(), setting="test"
    )
    foreign = await check(client, licence(code, keys=stranger))
    assert (foreign["outcome"], foreign["licence"]) == ("unknown", None)
    assert foreign["reason"] == "signed by a key that is not published"

    expired = await check(client, licence(expired_code, valid_days=-10))
    assert expired["outcome"] == "expired"

    unknown = await check(client, licence(never_issued))
    assert unknown == {
        "outcome": "unknown",
        "reason": "no e-licence of this number on record",
        "licence": None,
    }
    assert (await check(client, "not-a-licence"))["outcome"] == "unknown"

    revoked_at = Timestamp()
    revoked_at.FromDatetime(datetime.now(UTC))
    revocation = approval_pb2.ELicenceRevoked(
        application_code=code,
        elicence_number=f"EL-{code}",
        reason="以欺骗手段取得 / obtained by deception",
        revoked_at=revoked_at,
        actor=approval_pb2.Actor(kind="staff", id="ops-1", department_code="operations-centre"),
    )
    await follow(follower, code, revocation)
    revoked = await check(client, token)
    assert revoked["outcome"] == "revoked"
    assert revoked["licence"]["number"] == f"EL-{code}"
    assert "deception" not in str(revoked)  # the reason is the record's, not the public's


async def test_published_keys_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/elicences/keys")
    assert response.status_code == 200
    assert response.json() == KEYS.published().to_json()


async def test_verification_is_limited_per_client_address(
    settings: IntakeSettings, pool: asyncpg.Pool
) -> None:
    limited = settings.model_copy(
        update={"elicence_verification_burst": 2, "elicence_verification_rate_per_minute": 1}
    )
    app: FastAPI = create_app(limited, pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            answers = [(await client.get(VERIFY, params={"t": "x.y"})) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"]


async def test_without_published_keys_outside_development_it_answers_503(
    settings: IntakeSettings, pool: asyncpg.Pool
) -> None:
    staging = settings.model_copy(update={"environment": "staging"})
    assert staging.elicence_public_keys() is None
    app: FastAPI = create_app(staging, pool=pool)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            answer = await client.get(VERIFY, params={"t": "x.y"})
            keys = await client.get("/v1/elicences/keys")
    assert (answer.status_code, keys.status_code) == (503, 503)
