"""How the HTTP SMS provider reads a gateway's answers (transport faked: no network;
the real-server tests are in tests/integration/test_http_sms.py)."""

from __future__ import annotations

import httpx
import pytest

from onceonly.notify.errors import PermanentProviderError, TemporaryProviderError
from onceonly.notify.http_sms import HttpSmsProvider
from onceonly.notify.providers import OutboundMessage

MESSAGE = OutboundMessage(
    idempotency_key="event-1/sms/abc",
    application_code="T-1",
    channel="sms",
    recipient="13812345678",
    recipient_masked="1381234****",
    body="【政务服务】您的办件T-1已受理。",
)


def _provider(handler) -> HttpSmsProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HttpSmsProvider(client, "http://gateway.test/v1/sms", token="t")


async def test_accepted_replayed_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"message_id": "gw-1"}, headers={"Idempotent-Replayed": "true"}
        )

    result = await _provider(handler).send(MESSAGE)
    assert result.provider == "http-sms"
    assert result.provider_message_id == "gw-1"
    assert result.duplicate is True
    assert result.segments == 1
    assert seen[0].headers["Idempotency-Key"] == MESSAGE.idempotency_key
    assert seen[0].headers["Authorization"] == "Bearer t"


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_temporary_answers(status: int) -> None:
    provider = _provider(lambda request: httpx.Response(status))
    with pytest.raises(TemporaryProviderError) as raised:
        await provider.send(MESSAGE)
    assert raised.value.not_sent is False  # the gateway may have taken it


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_permanent_answers_never_name_the_number(status: int) -> None:
    provider = _provider(lambda request: httpx.Response(status, text=MESSAGE.recipient))
    with pytest.raises(PermanentProviderError) as raised:
        await provider.send(MESSAGE)
    assert MESSAGE.recipient not in str(raised.value)


async def test_no_connection_is_certainly_not_sent_but_a_lost_answer_is_in_doubt() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TemporaryProviderError) as refused:
        await _provider(refuse).send(MESSAGE)
    assert refused.value.not_sent is True
    with pytest.raises(TemporaryProviderError) as timed_out:
        await _provider(time_out).send(MESSAGE)
    assert timed_out.value.not_sent is False
