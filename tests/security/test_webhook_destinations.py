"""Server-side request forgery through webhooks, against the real notify process: an
integrator registers URLs that point inside (loopback, private, link-local, cloud
metadata, numeric host forms, user info, CRLF) and each is refused with a 422 that names
the reason, never repeating the URL; a URL that got into the store before these rules
(the old code checked only the prefix) is refused again when notify is about to connect,
so the inside address is never connected to, and the delivery fails with a generic
error instead of becoming a scanning oracle."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import asyncpg
import httpx
import pytest

from onceonly.notify.webhook_delivery import REFUSED, secret_context
from onceonly.platform.pii import PiiSealer
from onceonly.platform.secrets import DEVELOPMENT_PII_KEY
from onceonly.platform.testing import eventually, test_database_url
from tests.observability.processes import BIN

from .conftest import System, household_transfer

PATH = "/v1/integrator/webhooks"
SECRET_IN_URL = "s3cr3t-in-the-url"
INSIDE = [
    ("https://127.0.0.1/onceonly", "webhook_url_address"),
    ("https://[::1]:8443/onceonly", "webhook_url_address"),
    ("https://10.20.30.40/onceonly", "webhook_url_address"),
    ("https://192.168.1.1/onceonly", "webhook_url_address"),
    ("https://169.254.169.254/latest/meta-data/", "webhook_url_address"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "webhook_url_address"),
    ("https://100.100.100.200/latest/meta-data/", "webhook_url_address"),
    ("https://[::ffff:127.0.0.1]/onceonly", "webhook_url_address"),
    ("https://2130706433/onceonly", "webhook_url_numeric_host"),
    ("https://0x7f.1/onceonly", "webhook_url_numeric_host"),
    ("https://0177.0.0.1/onceonly", "webhook_url_numeric_host"),
    ("https://localhost/onceonly", "webhook_url_reserved_name"),
    ("https://metadata.google.internal/computeMetadata/v1/", "webhook_url_reserved_name"),
    (f"https://portal:{SECRET_IN_URL}@hooks.portal.example.cn/", "webhook_url_userinfo"),
    ("https://hooks.portal.example.cn/a\r\nX-Injected: 1", "webhook_url_control_character"),
    ("https://hooks.portal.example.cn/a\x00", "webhook_url_control_character"),
    ("http://hooks.portal.example.cn/onceonly", "webhook_url_scheme"),
]


def new_integrator(system: System) -> tuple[str, str]:
    """(integrator id, API key) of a fresh integrator, made with the admin CLI."""
    name = f"ssrf {uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [str(BIN / "onceonly-intake"), "integrator", "create", name, "--json"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    created = json.loads(done.stdout)
    return str(created["integrator_id"]), str(created["api_key"])


@pytest.mark.parametrize(("url", "reason"), INSIDE, ids=[r for _, r in INSIDE])
async def test_a_webhook_url_that_points_inside_is_refused_at_registration(
    system: System, url: str, reason: str
) -> None:
    headers = {"Authorization": f"Bearer {system.integrator_key}"}
    async with httpx.AsyncClient(base_url=system.notify, timeout=20) as http:
        answer = await http.put(PATH, json={"url": url}, headers=headers)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert (error["field"], error["code"]) == ("url", reason)
        assert SECRET_IN_URL not in answer.text and "169.254" not in answer.text
        assert "127.0.0.1" not in answer.text


async def test_a_public_https_url_is_accepted(system: System) -> None:
    """The control: registration works, so the refusals above are the rules'."""
    _, key = new_integrator(system)
    async with httpx.AsyncClient(base_url=system.notify, timeout=20) as http:
        answer = await http.put(
            PATH,
            json={"url": "https://hooks.portal.example.cn/onceonly"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert answer.status_code == 200, answer.text


@pytest.mark.timeout(180)
async def test_a_stored_url_to_an_inside_address_is_refused_when_connecting(
    system: System,
) -> None:
    connections: list[str] = []

    async def inside_service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("connected")
        writer.close()

    server = await asyncio.start_server(inside_service, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    integrator_id, key = new_integrator(system)
    sealer = PiiSealer(DEVELOPMENT_PII_KEY)
    conn = await asyncpg.connect(test_database_url())
    try:
        # As the code before these rules stored it: only the https:// prefix checked.
        await conn.execute(
            "INSERT INTO notify.integrator_webhooks (integrator_id, url, key_id, secret_sealed)"
            " VALUES ($1, $2, 'wk_legacy', $3)",
            integrator_id,
            f"https://127.0.0.1:{port}/admin",
            sealer.seal("whsec_legacy", context=secret_context(integrator_id)),
        )
        async with httpx.AsyncClient(timeout=20) as http:
            answer = await http.post(
                f"{system.intake}/v1/applications",
                json=household_transfer("13811112222"),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 201, answer.text
            code = answer.json()["application_code"]

            rows = await eventually(
                lambda: conn.fetch(
                    "SELECT status, last_error, http_status FROM notify.deliveries"
                    " WHERE channel = 'webhook' AND application_code = $1",
                    code,
                ),
                lambda rows: rows and all(row["status"] == "failed" for row in rows),
                within=90,
                what="the application's webhooks failed",
            )
            assert {(row["last_error"], row["http_status"]) for row in rows} == {(REFUSED, None)}
            log = await http.get(
                f"{system.notify}{PATH}/deliveries", headers={"Authorization": f"Bearer {key}"}
            )
    finally:
        await conn.close()
        server.close()
    assert connections == []  # the inside address was never connected to
    assert str(port) not in log.text and "127.0.0.1" not in log.text
    assert {d["last_error"] for d in log.json()["deliveries"]} == {
        "refused: destination not allowed"
    }
