"""Every webhook attempt is settled, whatever happens in it: delivered, rescheduled, or
failed with a few generic words (never our network's details, never left pending)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from onceonly.notify.errors import WebhookDestinationRefused
from onceonly.notify.webhook_delivery import (
    CONNECTION_FAILED,
    DELIVERY_FAILED,
    NO_WEBHOOK,
    REFUSED,
    SIGNING_FAILED,
    WebhookDispatcher,
    secret_context,
)
from onceonly.notify.webhook_store import Registration
from onceonly.notify.webhook_urls import STRICT
from onceonly.notify.webhooks import RetryPolicy
from onceonly.platform.pii import PiiSealer

INTEGRATOR = "portal"
URL = "https://hooks.portal.example.cn/onceonly"


class Ledger:
    """The few WebhookStore methods the dispatcher's tick uses, in memory."""

    def __init__(self, registration: Registration | None) -> None:
        self._registration = registration
        self.delivery: dict[str, Any] = {
            "id": uuid.uuid4(),
            "event_id": str(uuid.uuid4()),
            "integrator_id": INTEGRATOR,
            "application_code": "T-1",
            "attempts": 1,
            "payload": "{}",
            "give_up_at": datetime.now(UTC) + timedelta(hours=1),
        }
        self.outcome: tuple[str, str | None, int | None] | None = None

    async def resolve_backlog(self, *, give_up_after: timedelta) -> tuple[int, int]:
        return 0, 0

    async def claim_due(self, *, limit: int, lease: timedelta) -> list[dict[str, Any]]:
        return [self.delivery] if self.outcome is None else []

    async def registration(self, integrator_id: str) -> Registration | None:
        return self._registration

    async def mark_delivered(self, delivery_id: Any, *, http_status: int) -> None:
        self.outcome = ("sent", None, http_status)

    async def reschedule(
        self, delivery_id: Any, *, at: datetime, error: str, http_status: int | None
    ) -> None:
        self.outcome = ("pending", error, http_status)

    async def mark_failed(self, delivery_id: Any, *, error: str, http_status: int | None) -> None:
        self.outcome = ("failed", error, http_status)


def _registration(sealer: PiiSealer, url: str = URL) -> Registration:
    sealed = sealer.seal("whsec_test", context=secret_context(INTEGRATOR))
    return Registration(INTEGRATOR, url, "wk_test", sealed)


async def _tick(ledger: Ledger, sealer: PiiSealer, answer: Any) -> tuple[str, str | None, Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, BaseException):
            raise answer
        return httpx.Response(answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        dispatcher = WebhookDispatcher(
            ledger,  # type: ignore[arg-type]
            sealer,
            RetryPolicy(),
            client=client,
            destinations=STRICT,
        )
        assert await dispatcher.tick() == 1
    assert ledger.outcome is not None
    return ledger.outcome


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (204, ("sent", None, 204)),
        (503, ("pending", "HTTP 503", 503)),
        (404, ("failed", "HTTP 404", 404)),
        (httpx.ConnectError("[Errno 111] Connection refused 10.0.0.8:443"), None),
        (httpx.ReadTimeout("timed out"), None),
        (WebhookDestinationRefused("address", "the host resolves to a private address"), None),
        (RuntimeError("something nobody expected"), None),
        (httpx.InvalidURL("Invalid non-printable ASCII character in URL"), None),
    ],
)
async def test_every_attempt_is_settled(answer: Any, outcome: Any, sealer: PiiSealer) -> None:
    expected = (
        outcome
        or {
            httpx.ConnectError: ("pending", CONNECTION_FAILED, None),
            httpx.ReadTimeout: ("pending", CONNECTION_FAILED, None),
            WebhookDestinationRefused: ("failed", REFUSED, None),
            RuntimeError: ("failed", DELIVERY_FAILED, None),
            httpx.InvalidURL: ("failed", DELIVERY_FAILED, None),
        }[type(answer)]
    )
    ledger = Ledger(_registration(sealer))
    assert await _tick(ledger, sealer, answer) == expected


@pytest.mark.parametrize(
    "url",
    ["https://hooks.portal.example.cn/a\r\nX-Injected: 1", "https://u:p@h.example.cn/", ""],
)
async def test_a_stored_url_refused_by_the_rules_fails_without_a_request(
    url: str, sealer: PiiSealer
) -> None:
    ledger = Ledger(_registration(sealer, url))
    assert await _tick(ledger, sealer, AssertionError("no request expected")) == (
        "failed",
        REFUSED,
        None,
    )


async def test_no_registration_or_an_unopenable_secret_fails(sealer: PiiSealer) -> None:
    assert await _tick(Ledger(None), sealer, 204) == ("failed", NO_WEBHOOK, None)
    broken = Registration(INTEGRATOR, URL, "wk_test", "not-sealed")
    assert await _tick(Ledger(broken), sealer, 204) == ("failed", SIGNING_FAILED, None)
