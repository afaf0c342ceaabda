"""Which address a request comes from, for limits keyed by client address.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only when
the peer (the TCP connection's other end) is one of the configured proxies
(`ONCEONLY_TRUSTED_PROXIES`); then the client is the right-most address in the header
that is not itself a trusted proxy: every entry to its right was appended by a proxy we
trust, every entry to its left could have been typed by the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_proxies(spec: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7, ::1` → networks; raises ValueError naming a bad entry."""
    networks: list[Network] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 address carried in IPv6 (::ffff:1.2.3.4) is that IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]
) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most untrusted address of `forwarded_for` (the header's values, in order)."""
    peer_address = _address(peer) if peer else None
    if peer_address is None:
        return peer or "unknown"
    if not _trusted(peer_address, proxies):
        return str(peer_address)
    entries = [item for value in forwarded_for for item in value.split(",")]
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            # A malformed entry from our own proxy chain: limit by the proxy instead,
            # the stricter choice, rather than by a string someone could vary.
            return str(peer_address)
        if not _trusted(address, proxies):
            return str(address)
    # Every hop is a trusted proxy (or no header): the last one seen is the client.
    return str(peer_address)
