"""The notify process as `onceonly-notify run` builds it: the app's lifespan runs the
consumer; the API shows deliveries with masked recipients to operations staff."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from onceonly.events.v1 import application_pb2
from onceonly.notify.api import create_app
from onceonly.notify.settings import NotifySettings
from onceonly.platform.auth import DEPARTMENT_ROLES
from onceonly.platform.kafka import publish
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def app(settings: NotifySettings, pool) -> AsyncIterator[FastAPI]:
    created = create_app(settings, pool=pool)
    async with created.router.lifespan_context(created):
        yield created


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as created:
        yield created


def _token(settings: NotifySettings, *roles: str) -> dict[str, str]:
    """A notify token: of the operations centre, or of tax for a department's roles (a
    department of the catalogue, or the token is refused outright)."""
    department = "tax" if set(roles) & set(DEPARTMENT_ROLES) else "operations"
    token = settings.staff_tokens().issue(staff_id="ops-1", department_code=department, roles=roles)
    return {"Authorization": f"Bearer {token}"}


async def test_health_reports_the_database_and_the_consumer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "problems": {}}

    # A dead consumer task makes the process unhealthy.
    await app.state.runtime.stop()
    response = await client.get("/health")
    assert response.status_code == 503
    assert "consumer" in response.json()["problems"]


async def test_notifications_of_an_application_with_masked_recipient_and_text(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: NotifySettings,
    producer: AIOKafkaProducer,
    events,
) -> None:
    code = events.code()
    runtime = app.state.runtime
    accepted = events.envelope(events.accepted(code), code)
    await publish(producer, runtime.source_topic, accepted)
    headers = _token(settings, "operations")

    async def fetch() -> dict:
        response = await client.get(
            "/v1/notifications", params={"application_code": code}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    body = await eventually(
        fetch,
        lambda b: any(d["status"] == "sent" for d in b["deliveries"]),
        what="a sent delivery in the API",
    )
    assert body["application_code"] == code
    [delivery] = body["deliveries"]
    assert delivery["event_id"] == accepted.id
    assert delivery["channel"] == "sms"
    assert delivery["recipient_masked"] == "1381234****"
    assert delivery["template"] == "application_accepted.accepted"
    assert delivery["provider"] == "local"
    assert delivery["segments"] == 1
    assert delivery["body"].startswith(f"【政务服务】您的办件{code}")
    assert "13812345678" not in str(body)

    metrics = (await client.get("/metrics")).text
    assert 'onceonly_notify_notifications_total{channel="sms",provider="local",status="sent"}' in (
        metrics
    )

    supervision = await client.get(
        "/v1/notifications",
        params={"application_code": code},
        headers=_token(settings, "supervision"),
    )
    assert supervision.status_code == 200


async def test_staff_of_a_division_see_only_the_applications_decided_in_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: NotifySettings,
    producer: AIOKafkaProducer,
    events,
) -> None:
    # 行政区划: decided in Xihu district (330106), wherever its code was given.
    code = events.code()
    runtime = app.state.runtime
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code,
        matter_code="business-startup",
        contact=events.contact(code),
        submitted_region="330102",
        competent_region="330106",
    )
    await publish(producer, runtime.submissions_topic, events.envelope(submitted, code))
    await publish(producer, runtime.source_topic, events.envelope(events.accepted(code), code))

    async def seen_by(region: str) -> list[dict]:
        token = settings.staff_tokens().issue(
            staff_id="sup-1", department_code="supervision", roles=("supervision",), region=region
        )
        response = await client.get(
            "/v1/notifications",
            params={"application_code": code},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()["deliveries"]

    await eventually(lambda: seen_by("330106"), lambda found: len(found) == 1, what="a delivery")
    assert len(await seen_by("330100")) == 1  # the city sees its districts
    assert len(await seen_by("")) == 1  # and the province everything
    assert await seen_by("330102") == []  # the centre where it was given is not competent


async def test_notifications_need_an_operations_or_supervision_token(
    client: httpx.AsyncClient, settings: NotifySettings
) -> None:
    params = {"application_code": "T-ANY"}
    response = await client.get("/v1/notifications", params=params)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    reviewer = await client.get(
        "/v1/notifications", params=params, headers=_token(settings, "reviewer")
    )
    assert reviewer.status_code == 403


async def test_a_malformed_application_code_is_a_validation_problem(
    client: httpx.AsyncClient, settings: NotifySettings
) -> None:
    headers = _token(settings, "operations")
    response = await client.get(
        "/v1/notifications", params={"application_code": "'; drop"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "application_code"
    missing = await client.get("/v1/notifications", headers=headers)
    assert missing.status_code == 422


async def test_an_unknown_application_has_no_notifications(
    client: httpx.AsyncClient, settings: NotifySettings
) -> None:
    response = await client.get(
        "/v1/notifications",
        params={"application_code": "T-NEVER-SUBMITTED"},
        headers=_token(settings, "operations"),
    )
    assert response.status_code == 200
    assert response.json() == {"application_code": "T-NEVER-SUBMITTED", "deliveries": []}
