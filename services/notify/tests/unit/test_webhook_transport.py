"""The webhook transport resolves each request's host itself, refuses it when any address
is not allowed, and connects to an address it checked (the name kept for Host and TLS)."""

from __future__ import annotations

import socket

import httpx
import pytest

from onceonly.notify.errors import WebhookDestinationRefused
from onceonly.notify.webhook_transport import VettedTransport, system_resolve
from onceonly.notify.webhook_urls import STRICT, DestinationPolicy

URL = "https://hooks.portal.example.cn/onceonly?v=1"


class Dns:
    """Answers from a script, one answer per lookup (the last one repeats)."""

    def __init__(self, *answers: list[str] | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Server:
    """The inner transport: records what would have gone on the wire."""

    def __init__(self, *, unreachable: tuple[str, ...] = ()) -> None:
        self.requests: list[httpx.Request] = []
        self.unreachable = unreachable

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        self.requests.append(request)
        return httpx.Response(204)


def _client(dns: Dns, server: Server, policy: DestinationPolicy = STRICT) -> httpx.AsyncClient:
    transport = VettedTransport(policy, resolve=dns, inner=httpx.MockTransport(server))
    return httpx.AsyncClient(transport=transport, trust_env=False)


async def test_the_request_goes_to_the_checked_address_under_its_name() -> None:
    dns, server = Dns(["93.184.216.34"]), Server()
    async with _client(dns, server) as client:
        response = await client.post(URL, content=b"{}")
    assert response.status_code == 204
    assert dns.asked == [("hooks.portal.example.cn", 443)]
    [sent] = server.requests
    assert str(sent.url) == "https://93.184.216.34/onceonly?v=1"
    assert sent.headers["host"] == "hooks.portal.example.cn"
    assert sent.extensions["sni_hostname"] == "hooks.portal.example.cn"  # TLS checks the name
    assert sent.content == b"{}"


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["169.254.169.254"],
        ["93.184.216.34", "10.0.0.5"],  # any one refused address refuses the request
        ["2606:4700::1111", "::1"],
        ["fd00:ec2::254"],
        ["::ffff:127.0.0.1"],
        ["fe80::1%eth0"],
        ["not-an-address"],
    ],
)
async def test_a_name_resolving_to_a_refused_address_is_refused(answer: list[str]) -> None:
    server = Server()
    async with _client(Dns(answer), server) as client:
        with pytest.raises(WebhookDestinationRefused) as refused:
            await client.post(URL, content=b"{}")
    assert server.requests == []
    assert refused.value.code == "address"


async def test_every_request_resolves_again_so_a_rebound_name_is_refused() -> None:
    dns, server = Dns(["93.184.216.34"], ["127.0.0.1"]), Server()
    async with _client(dns, server) as client:
        assert (await client.post(URL, content=b"{}")).status_code == 204
        with pytest.raises(WebhookDestinationRefused):
            await client.post(URL, content=b"{}")
    assert len(dns.asked) == 2
    assert len(server.requests) == 1


async def test_a_url_refused_as_written_is_refused_before_any_lookup() -> None:
    dns, server = Dns(["93.184.216.34"]), Server()
    async with _client(dns, server) as client:
        for url in ("http://hooks.portal.example.cn/", "https://127.0.0.1/", "https://2130706433/"):
            with pytest.raises(WebhookDestinationRefused):
                await client.post(url, content=b"{}")
    assert dns.asked == [] and server.requests == []


async def test_an_address_literal_is_not_looked_up_and_has_no_server_name() -> None:
    dns, server = Dns(["127.0.0.1"]), Server()
    async with _client(dns, server) as client:
        await client.post("https://[2606:4700::1111]:8443/h", content=b"{}")
    assert dns.asked == []
    [sent] = server.requests
    assert str(sent.url) == "https://[2606:4700::1111]:8443/h"
    assert "sni_hostname" not in sent.extensions


async def test_the_next_address_is_tried_when_one_does_not_connect() -> None:
    dns, server = Dns(["93.184.216.34", "93.184.216.35"]), Server(unreachable=("93.184.216.34",))
    async with _client(dns, server) as client:
        assert (await client.post(URL, content=b"{}")).status_code == 204
    assert [r.url.host for r in server.requests] == ["93.184.216.35"]


@pytest.mark.parametrize("failure", [socket.gaierror(-2, "Name or service not known"), []])
async def test_a_name_that_does_not_resolve_is_a_connection_error(
    failure: Exception | list[str],
) -> None:
    async with _client(Dns(failure), Server()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.post(URL, content=b"{}")


async def test_local_receivers_reach_loopback_and_still_not_metadata() -> None:
    local = DestinationPolicy(local_receivers=True)
    server = Server()
    async with _client(Dns(["127.0.0.1"]), server, local) as client:
        assert (await client.post("http://localhost:8123/h", content=b"{}")).status_code == 204
    assert str(server.requests[0].url) == "http://127.0.0.1:8123/h"
    assert "sni_hostname" not in server.requests[0].extensions  # no TLS on http
    async with _client(Dns(["169.254.169.254"]), server, local) as client:
        with pytest.raises(WebhookDestinationRefused):
            await client.post("http://localhost:8123/h", content=b"{}")


async def test_the_system_resolver_answers_with_addresses() -> None:
    # localhost needs no network: the hosts file answers.
    found = await system_resolve("localhost", 443)
    assert found and {"127.0.0.1", "::1"} & set(found)
