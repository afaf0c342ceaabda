"""Where webhooks may go, against the real Postgres and Kafka: URLs refused when an
integrator registers them (a 422 problem that never repeats the URL), names refused
when they resolve to a forbidden address at sending time (DNS rebinding), stored URLs
that used to make the delivery loop raise now failing their delivery, and the operator's
command that deletes a registration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from onceonly.events.v1 import application_pb2
from onceonly.notify.api import create_app
from onceonly.notify.cli import app as cli_app
from onceonly.notify.runtime import NotifyRuntime
from onceonly.notify.settings import NotifySettings
from onceonly.notify.webhook_delivery import NO_WEBHOOK, REFUSED, secret_context
from onceonly.notify.webhook_store import WebhookStore
from onceonly.platform.kafka import publish
from onceonly.platform.pii import PiiSealer
from onceonly.platform.settings import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually

pytestmark = pytest.mark.integration

PATH = "/v1/integrator/webhooks"
SECRET_IN_URL = "s3cr3t-in-the-url"
PUBLIC = "93.184.216.34"  # what the stand-in resolver answers unless told otherwise

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Dns:
    """Stands in for the resolver: answers what the test says at the moment."""

    def __init__(self, *answer: str) -> None:
        self.answer = list(answer)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.answer)


class Receiver:
    """An integrator's endpoint on 127.0.0.1: takes every POST, remembers the event ids."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        while (await receive()).get("more_body"):
            pass
        self.event_ids.append(headers.get("x-onceonly-event-id", ""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@asynccontextmanager
async def _notify(
    settings: NotifySettings, pool: asyncpg.Pool, dns: Dns
) -> AsyncIterator[tuple[NotifyRuntime, httpx.AsyncClient]]:
    """The notify app running (consumer, webhook loop) with fast retries, and a client."""
    fast = settings.model_copy(
        update={"notify_webhook_poll_seconds": 0.05, "notify_webhook_retry_base_seconds": 0.1}
    )
    app = create_app(fast, pool=pool, resolve=dns)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notify") as client:
            yield app.state.runtime, client


@pytest.fixture
def dns() -> Dns:
    return Dns(PUBLIC)


@pytest.fixture
async def strict(
    settings: NotifySettings, pool: asyncpg.Pool, dns: Dns
) -> AsyncIterator[tuple[NotifyRuntime, httpx.AsyncClient]]:
    """Notify as outside development: https to public addresses only."""
    assert not settings.webhook_destinations.local_receivers
    async with _notify(settings, pool, dns) as running:
        yield running


@pytest.fixture
async def local(
    local_receivers_settings: NotifySettings, pool: asyncpg.Pool, dns: Dns
) -> AsyncIterator[tuple[NotifyRuntime, httpx.AsyncClient]]:
    """Notify in development with local receivers explicitly allowed."""
    async with _notify(local_receivers_settings, pool, dns) as running:
        yield running


async def _webhook_rows(pool: asyncpg.Pool, code: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM notify.deliveries WHERE channel = 'webhook' AND application_code = $1"
        " ORDER BY created_at",
        code,
    )


async def _submit(
    producer: AIOKafkaProducer, runtime: NotifyRuntime, events, integrator_id: str
) -> str:
    code = events.code()
    submitted = application_pb2.ApplicationSubmitted(
        application_code=code, matter_code="business-startup", integrator_id=integrator_id
    )
    await publish(producer, runtime.submissions_topic, events.envelope(submitted, code))
    return code


REFUSED_AT_REGISTRATION = [
    ("http://hooks.portal.example.cn/onceonly", "webhook_url_scheme"),
    ("https://127.0.0.1/onceonly", "webhook_url_address"),
    ("https://[::1]:8443/onceonly", "webhook_url_address"),
    ("https://10.20.30.40/onceonly", "webhook_url_address"),
    ("https://169.254.169.254/latest/meta-data/", "webhook_url_address"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "webhook_url_address"),
    ("https://100.100.100.200/latest/meta-data/", "webhook_url_address"),
    ("https://2130706433/onceonly", "webhook_url_numeric_host"),
    ("https://0x7f.1/onceonly", "webhook_url_numeric_host"),
    ("https://0177.0.0.1/onceonly", "webhook_url_numeric_host"),
    ("https://localhost/onceonly", "webhook_url_reserved_name"),
    ("https://metadata.google.internal/computeMetadata/v1/", "webhook_url_reserved_name"),
    (f"https://portal:{SECRET_IN_URL}@hooks.portal.example.cn/", "webhook_url_userinfo"),
    ("https://hooks.portal.example.cn/a\r\nX-Injected: 1", "webhook_url_control_character"),
    ("https://hooks.portal.example.cn/a\x00", "webhook_url_control_character"),
    ("https://hooks.portal.example.cn/a#top", "webhook_url_fragment"),
    ("https://hooks.portal.example.cn\\@127.0.0.1/", "webhook_url_character"),
]


async def test_registration_refuses_what_webhooks_may_not_reach_and_says_why(
    strict: tuple[NotifyRuntime, httpx.AsyncClient],
    intake_integrator,
    pool: asyncpg.Pool,
) -> None:
    _, client = strict
    integrator = await intake_integrator()
    store = WebhookStore(pool)
    for url, code in REFUSED_AT_REGISTRATION:
        response = await client.put(PATH, json={"url": url}, headers=integrator.auth)
        assert response.status_code == 422, url
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == "https://onceonly.dev/problems/validation"
        [error] = problem["errors"]
        assert (error["field"], error["in"], error["code"]) == ("url", "body", code), url
        assert error["message"]
        # Neither the URL nor a secret in it comes back.
        assert SECRET_IN_URL not in response.text
        assert "127.0.0.1" not in response.text and "169.254" not in response.text
        assert await store.registration(integrator.id) is None

    response = await client.put(
        PATH,
        json={"url": "HTTPS://Hooks.Portal.Example.CN:443/onceonly?v=1"},
        headers=integrator.auth,
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    registered = response.json()
    assert registered["integrator_id"] == integrator.id
    assert registered["url"] == "https://hooks.portal.example.cn/onceonly?v=1"
    stored = await store.registration(integrator.id)
    assert stored is not None
    assert stored.url == registered["url"]
    assert stored.key_id == registered["key_id"]
    assert registered["secret"] not in stored.secret_sealed
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    opened = sealer.open(stored.secret_sealed, context=secret_context(integrator.id))
    assert opened == registered["secret"]

    # A refused URL later leaves the registration as it was.
    response = await client.put(
        PATH, json={"url": "https://169.254.169.254/"}, headers=integrator.auth
    )
    assert response.status_code == 422
    assert await store.registration(integrator.id) == stored


async def test_malformed_registrations_are_problems_never_500s(
    strict: tuple[NotifyRuntime, httpx.AsyncClient], intake_integrator
) -> None:
    _, client = strict
    integrator = await intake_integrator()
    for body in (
        {},
        {"url": 5},
        {"url": None},
        {"url": "https://hooks.portal.example.cn/" + "a" * 2100},
        {"url": "https://hooks.portal.example.cn/", "secret": "mine"},
        ["https://hooks.portal.example.cn/"],
    ):
        response = await client.put(PATH, json=body, headers=integrator.auth)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    response = await client.put(
        PATH,
        content=b"not json",
        headers={**integrator.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    response = await client.put(PATH, json={"url": "https://hooks.portal.example.cn/"})
    assert response.status_code == 401


async def test_local_receivers_are_allowed_only_as_configured_for_development(
    local: tuple[NotifyRuntime, httpx.AsyncClient], intake_integrator
) -> None:
    _, client = local
    integrator = await intake_integrator()
    response = await client.put(
        PATH, json={"url": "http://127.0.0.1:8123/hooks"}, headers=integrator.auth
    )
    assert response.status_code == 200
    assert response.json()["url"] == "http://127.0.0.1:8123/hooks"
    for url in ("http://169.254.169.254/latest/meta-data/", "http://2130706433:8123/"):
        response = await client.put(PATH, json={"url": url}, headers=integrator.auth)
        assert response.status_code == 422, url


async def test_a_name_rebound_to_a_forbidden_address_is_refused_at_sending_time(
    local: tuple[NotifyRuntime, httpx.AsyncClient],
    dns: Dns,
    serve,
    intake_integrator,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    runtime, client = local
    integrator = await intake_integrator()
    receiver = Receiver()
    async with serve(receiver) as base_url:
        port = base_url.rsplit(":", 1)[1]
        # The name answers with the receiver's address (allowed in development) ...
        dns.answer = ["127.0.0.1"]
        url = f"http://hooks.rebind.example.cn:{port}/hooks"
        response = await client.put(PATH, json={"url": url}, headers=integrator.auth)
        assert response.status_code == 200
        code = await _submit(producer, runtime, events, integrator.id)
        accepted = events.envelope(events.accepted(code), code)
        await publish(producer, runtime.source_topic, accepted)
        await eventually(
            lambda: _webhook_rows(pool, code),
            lambda rows: len(rows) == 1 and rows[0]["status"] == "sent",
            what="the first webhook delivered",
        )
        # ... then with the cloud metadata address: the next webhook is refused, unsent.
        dns.answer = ["169.254.169.254"]
        withdrawn = events.envelope(events.withdrawn(code), code)
        await publish(producer, runtime.source_topic, withdrawn)
        rows = await eventually(
            lambda: _webhook_rows(pool, code),
            lambda rows: len(rows) == 2 and rows[1]["status"] == "failed",
            what="the second webhook refused",
        )
    assert receiver.event_ids == [accepted.id]
    refused = rows[1]
    assert refused["event_id"] == withdrawn.id
    assert refused["attempts"] == 1  # refused once and for all, not retried
    assert refused["http_status"] is None
    assert refused["last_error"] == REFUSED
    assert dns.asked.count("hooks.rebind.example.cn") == 2  # resolved for each delivery

    # The integrator reads the same few words, nothing of our network.
    log = await client.get(
        f"{PATH}/deliveries", params={"status": "failed"}, headers=integrator.auth
    )
    [failed] = log.json()["deliveries"]
    assert failed["last_error"] == "refused: destination not allowed"
    assert "169.254" not in log.text


async def test_outside_development_a_name_resolving_to_a_private_address_is_refused(
    strict: tuple[NotifyRuntime, httpx.AsyncClient],
    dns: Dns,
    intake_integrator,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    runtime, client = strict
    integrator = await intake_integrator()
    url = "https://hooks.split-horizon.example.cn/onceonly"
    response = await client.put(PATH, json={"url": url}, headers=integrator.auth)
    assert response.status_code == 200  # a name is only a name when it is registered
    dns.answer = [PUBLIC, "10.0.0.8"]  # one private address among the answers is enough
    code = await _submit(producer, runtime, events, integrator.id)
    await publish(producer, runtime.source_topic, events.envelope(events.completed(code), code))
    rows = await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
        what="the webhook refused",
    )
    assert rows[0]["last_error"] == REFUSED
    assert rows[0]["attempts"] == 1
    assert rows[0]["next_attempt_at"] is None


@pytest.mark.parametrize(
    "stored_url",
    [
        # httpx raised InvalidURL on this one, which the loop did not catch: it stayed pending.
        "https://hooks.portal.example.cn/a\r\nX-Injected: 1",
        f"https://portal:{SECRET_IN_URL}@hooks.portal.example.cn/",
        "http://127.0.0.1:9/hooks",
        "https://2130706433/hooks",
        "ftp://hooks.portal.example.cn/",
        "",
    ],
)
async def test_a_url_stored_before_the_rules_fails_its_delivery_instead_of_staying_pending(
    stored_url: str,
    strict: tuple[NotifyRuntime, httpx.AsyncClient],
    intake_integrator,
    producer: AIOKafkaProducer,
    pool: asyncpg.Pool,
    events,
) -> None:
    runtime, client = strict
    integrator = await intake_integrator()
    sealer = PiiSealer(runtime.settings.pii_keys.get_secret_value())
    # Written as the old registration did, with only an http(s) prefix checked (or none).
    await WebhookStore(pool).set_webhook(
        integrator.id,
        url=stored_url,
        key_id="wk_legacy",
        secret_sealed=sealer.seal("whsec_legacy", context=secret_context(integrator.id)),
    )
    code = await _submit(producer, runtime, events, integrator.id)
    await publish(producer, runtime.source_topic, events.envelope(events.rejected(code), code))
    rows = await eventually(
        lambda: _webhook_rows(pool, code),
        lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
        what="the webhook failed",
    )
    assert rows[0]["last_error"] == REFUSED
    assert rows[0]["http_status"] is None
    log = await client.get(f"{PATH}/deliveries", headers=integrator.auth)
    assert SECRET_IN_URL not in log.text


async def _cli(database_url: str, *args: str, input: str | None = None) -> Any:
    return await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        list(args),
        input=input,
        env={"ONCEONLY_DATABASE_URL": database_url, "ONCEONLY_ENVIRONMENT": "development"},
    )


async def test_an_operator_deletes_a_registration_and_its_pending_deliveries_fail(
    database_url: str,
    settings: NotifySettings,
    dns: Dns,
    intake_integrator,
    pool: asyncpg.Pool,
    events,
) -> None:
    store = WebhookStore(pool)
    integrator = await intake_integrator()
    set_ = await _cli(database_url, "webhook", "set", integrator.id, "https://hooks.example.cn/")
    assert set_.exit_code == 0, set_.output
    refused = await _cli(database_url, "webhook", "set", integrator.id, "https://10.0.0.1/")
    assert refused.exit_code == 2
    assert "private address" in refused.output
    # A delivery waiting for it (notify is not running yet).
    code = events.code()
    await store.enqueue(
        event_id=str(uuid.uuid4()),
        integrator_id=integrator.id,
        application_code=code,
        event_type="onceonly.events.v1.ApplicationCompleted",
        payload="{}",
        give_up_after=timedelta(hours=1),
    )

    # Asked, and told no: nothing deleted.
    kept = await _cli(database_url, "webhook", "delete", integrator.id, input="n\n")
    assert kept.exit_code == 1
    assert await store.registration(integrator.id) is not None

    deleted = await _cli(database_url, "webhook", "delete", integrator.id, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert await store.registration(integrator.id) is None
    again = await _cli(database_url, "webhook", "delete", integrator.id, "--yes")
    assert again.exit_code == 1
    assert "has no webhook" in again.output
    unknown = await _cli(database_url, "webhook", "delete", f"int-{uuid.uuid4().hex}", "-y")
    assert unknown.exit_code == 1

    # The waiting delivery fails (nowhere to send it) rather than waiting forever.
    async with _notify(settings, pool, dns):
        rows = await eventually(
            lambda: _webhook_rows(pool, code),
            lambda rows: len(rows) == 1 and rows[0]["status"] == "failed",
            what="the delivery failed",
        )
    assert rows[0]["last_error"] == NO_WEBHOOK
