"""The webhook HTTP client: every request goes only where the URL rules allow, checked
again at connection time.

A name accepted at registration may resolve to anything later (DNS rebinding, or a
record changed on purpose). So the client's transport resolves the host of every request
itself, refuses the request if any address it resolves to is not allowed
(`webhook_urls.address_refusal`), and connects to an address it checked, not to whatever
a second lookup by the connection pool would return. The request keeps its Host header,
and TLS its server name (httpx's `sni_hostname` request extension), so the certificate is
still verified against the name.

Why a transport that pins the address rather than a custom resolver: httpx has no public
resolver hook, while a transport wrapping `httpx.AsyncHTTPTransport` uses public API only
and sees every request, whoever sends it. Keep-alive is off: the pool keys connections by
the pinned address, so a kept connection could carry a request for another name on the
same address past that name's TLS check (and each delivery then resolves afresh).
Redirects are not followed and proxies from the environment are ignored (a proxy would
resolve the name itself).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

from onceonly.notify.errors import WebhookDestinationRefused
from onceonly.notify.webhook_urls import (
    DestinationPolicy,
    IPAddress,
    address_refusal,
    parse_webhook_url,
)

# A host name's addresses, as text (what getaddrinfo gives).
Resolve = Callable[[str, int], Awaitable[list[str]]]

# Addresses tried in turn when a connection cannot be made (nothing was sent yet).
MAX_ADDRESSES_TRIED = 4


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` by the system resolver (getaddrinfo), for TCP."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class VettedTransport(httpx.AsyncBaseTransport):
    """Resolves, checks and pins the destination of each request, then hands the request
    to `inner`. Raises WebhookDestinationRefused for a refused URL or address, and
    httpx.ConnectError (a transport error: worth a retry) when the name does not resolve."""

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        resolve: Resolve = system_resolve,
        resolve_timeout: float = 5.0,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolve
        self._resolve_timeout = resolve_timeout
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        destination = parse_webhook_url(str(request.url), self._policy)
        if destination.address is not None:
            addresses: list[IPAddress] = [destination.address]
        else:
            addresses = await self._addresses(request, destination.host, destination.port)
        for address in addresses:
            reason = address_refusal(address, self._policy)
            if reason is not None:
                raise WebhookDestinationRefused("address", f"the host resolves to {reason}")
        extensions = dict(request.extensions)
        if destination.address is None and destination.scheme == "https":
            extensions["sni_hostname"] = destination.host
        failure: httpx.ConnectError | None = None
        for address in addresses[:MAX_ADDRESSES_TRIED]:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,  # the Host header still names the host
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # not connected: nothing was sent
                failure = exc
        assert failure is not None
        raise failure

    async def _addresses(self, request: httpx.Request, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self._resolve_timeout):
                found = await self._resolve(host, port)
        except TimeoutError:
            raise httpx.ConnectTimeout("name resolution timed out", request=request) from None
        except OSError:
            raise httpx.ConnectError("name resolution failed", request=request) from None
        addresses: list[IPAddress] = []
        for text in found:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise WebhookDestinationRefused(
                    "address", "the host resolves to something that is not an address"
                ) from None
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpx.ConnectError("name resolution found no address", request=request)
        return addresses

    async def aclose(self) -> None:
        await self._inner.aclose()


def webhook_client(
    policy: DestinationPolicy, *, timeout: float, resolve: Resolve = system_resolve
) -> httpx.AsyncClient:
    """The client that sends webhooks (and nothing else)."""
    return httpx.AsyncClient(
        transport=VettedTransport(policy, resolve=resolve, resolve_timeout=timeout),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
