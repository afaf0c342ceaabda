"""Which webhook URLs notify accepts, and which addresses a webhook may connect to: pure
rules, no network.

Why so strict: notify POSTs to a URL that an integrator chose, from inside our network,
and shows the integrator each attempt's status and error. A URL that reaches loopback, a
private network or a cloud metadata service would make notify the integrator's probe of
our network (server-side request forgery), with the delivery log as the read-out. So a
URL is taken apart with `urllib.parse` and `ipaddress` (and read by httpx, which sends
it, as a last check) and accepted in one plain form only: https (http only for
development receivers, `DestinationPolicy.local_receivers`); a DNS name, a dotted-quad
IPv4 or a bracketed IPv6 address as the host; no user info, no fragment, no control
character or whitespace anywhere; nothing that parsers read
differently (a backslash, a numeric, hex or octal IPv4 such as `2130706433`, `0x7f.1`,
`0177.0.0.1`, a zone id). Accepted URLs are normalised (IDNA host, default port dropped,
non-ASCII percent-encoded) and stored in that form.

A name is checked here only as a name: what it resolves to can change after it was
registered (DNS rebinding), so `address_refusal` is asked again, for every address the
name resolves to, each time a webhook is sent (`webhook_transport`).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import quote, urlsplit

import httpx

from onceonly.notify.errors import WebhookUrlRefused

IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Where webhooks may go. `local_receivers` (development only, see NotifySettings)
    also allows http:// and loopback, private and shared (CGNAT) addresses and
    `localhost`, for a receiver on the developer's machine or in a test; metadata,
    link-local, multicast, reserved and unspecified addresses are refused all the same."""

    local_receivers: bool = False

    @property
    def schemes(self) -> tuple[str, ...]:
        return ("https", "http") if self.local_receivers else ("https",)


STRICT = DestinationPolicy()


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """An accepted webhook URL. `url` is the normalised form, the one stored and sent to;
    `host` is ASCII (IDNA), lower case, an IPv6 address without brackets; `address` is
    set when the host is an address literal."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress | None


def _networks(*cidrs: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Refused whatever the policy, checked first (the first match names the reason); cloud
# metadata services before the rest: Alibaba Cloud's sits inside the shared range.
_ALWAYS_REFUSED: tuple[tuple[str, tuple[IPv4Network | IPv6Network, ...]], ...] = (
    (
        "a cloud metadata address",
        _networks(
            "169.254.169.254/32",  # AWS, GCP, Azure, Huawei Cloud, OpenStack
            "169.254.170.2/32",  # AWS ECS task metadata
            "169.254.0.23/32",  # Tencent Cloud
            "100.100.100.200/32",  # Alibaba Cloud
            "fd00:ec2::254/128",  # AWS over IPv6
        ),
    ),
    ("an unspecified address", _networks("0.0.0.0/8", "::/128")),
    ("a link-local address", _networks("169.254.0.0/16", "fe80::/10")),
    ("a multicast address", _networks("224.0.0.0/4", "ff00::/8")),
    ("a reserved or broadcast address", _networks("240.0.0.0/4")),
    ("a site-local address", _networks("fec0::/10")),
)

# Refused unless the policy allows local receivers (development).
_LOCAL: tuple[tuple[str, tuple[IPv4Network | IPv6Network, ...]], ...] = (
    ("a loopback address", _networks("127.0.0.0/8", "::1/128")),
    (
        "a private address",
        _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
    ),
    ("a shared (carrier-grade NAT) address", _networks("100.64.0.0/10")),
)

# Refused whatever the policy, after the local ones (::/8 holds ::1).
_SPECIAL_PURPOSE: tuple[tuple[str, tuple[IPv4Network | IPv6Network, ...]], ...] = (
    (
        "a special-purpose address",
        _networks(
            "192.0.0.0/24",  # IETF protocol assignments (Oracle Cloud's metadata is here)
            "192.0.2.0/24",  # documentation
            "198.51.100.0/24",
            "203.0.113.0/24",
            "2001:db8::/32",
            "198.18.0.0/15",  # benchmarking
            "192.88.99.0/24",  # 6to4 relay anycast
            "100::/64",  # discard
            "2001::/23",  # IETF protocol assignments, Teredo among them
            "64:ff9b:1::/48",  # local-use NAT64
            "::/8",  # reserved, IPv4-compatible addresses among them
        ),
    ),
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_refusal(address: IPAddress, policy: DestinationPolicy = STRICT) -> str | None:
    """Why a webhook may not connect to `address` (e.g. "a loopback address"), or None
    when it may."""
    if isinstance(address, IPv6Address):
        if address.scope_id:
            return "a scoped IPv6 address"
        # An IPv4 address carried in an IPv6 one is judged as that IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded, policy)
    for reason, networks in _ALWAYS_REFUSED:
        if any(address in network for network in networks):
            return reason
    for reason, networks in _LOCAL:
        if any(address in network for network in networks):
            return None if policy.local_receivers else reason
    for reason, networks in _SPECIAL_PURPOSE:
        if any(address in network for network in networks):
            return reason
    # Whatever else the standard library knows is not public (its list grows).
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "a non-public address"
    return None


# Names that are local or internal by definition (RFC 6761, RFC 6762, RFC 8375, ICANN's
# .internal), and metadata services' names that are not under those.
_LOCAL_NAMES = ("localhost",)
_INTERNAL_SUFFIXES = ("local", "localdomain", "internal", "home.arpa", "invalid")
_METADATA_NAMES = ("metadata.tencentyun.com",)

# Characters that may not appear in a URL as written (RFC 3986); a backslash among them,
# which browsers' parsers read as a slash and urllib does not.
_NOT_URL_CHARACTERS = frozenset('"<>\\^`{|}')
# RFC 3986 unreserved and reserved characters, and "%": everything else is escaped.
_URL_SAFE = "-._~:/?#[]@!$&'()*+,;=%"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL_ESCAPE = re.compile(r"%(?:[01][0-9A-Fa-f]|7[Ff])")
_PORT = re.compile(r"[1-9][0-9]{0,4}")


def _refuse(code: str, reason: str) -> WebhookUrlRefused:
    return WebhookUrlRefused(code, reason)


def parse_webhook_url(url: str, policy: DestinationPolicy = STRICT) -> WebhookUrl:
    """The accepted, normalised form of `url`, or WebhookUrlRefused saying why not. Never
    raises anything else, whatever the input."""
    if not isinstance(url, str) or not url:
        raise _refuse("empty", "a webhook URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse("length", f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Before urllib sees it: urlsplit silently drops tabs and line breaks, and strips
    # leading control characters and spaces.
    if any(char.isspace() or unicodedata.category(char)[0] in "CZ" for char in url):
        raise _refuse("control_character", "the URL contains a control character or whitespace")
    if any(char in _NOT_URL_CHARACTERS for char in url):
        raise _refuse("character", "the URL contains a character not allowed in a URL")
    if "#" in url:
        raise _refuse("fragment", "the URL must not have a fragment (#...)")
    if _BAD_ESCAPE.search(url):
        raise _refuse("escape", "the URL contains a % not followed by two hex digits")
    if _CONTROL_ESCAPE.search(url):
        raise _refuse("control_character", "the URL contains an escaped control character")

    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in policy.schemes or not rest.startswith("//"):
        allowed = " or ".join(f"{s}://" for s in policy.schemes)
        raise _refuse("scheme", f"the URL must start with {allowed}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _refuse("host", "the URL's host is not valid") from None
    netloc = parts.netloc
    if "@" in netloc:
        raise _refuse("userinfo", "the URL must not contain a user name or password")

    host_text, port_text = _split_netloc(netloc)
    port = _port(port_text, scheme)
    host, address = _host(host_text, policy)
    if address is not None:
        reason = address_refusal(address, policy)
        if reason is not None:
            raise _refuse("address", f"the URL's host is {reason}, which webhooks may not reach")

    netloc_out = f"[{host}]" if isinstance(address, IPv6Address) else host
    if port != DEFAULT_PORTS[scheme]:
        netloc_out = f"{netloc_out}:{port}"
    path = quote(parts.path or "/", safe=_URL_SAFE)
    query = f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
    normalised = f"{scheme}://{netloc_out}{path}{query}"
    try:
        # The sender's own reading: httpx checks A-labels (xn--) by IDNA 2008.
        httpx.URL(normalised).host  # noqa: B018 - the property validates
    except (httpx.InvalidURL, ValueError):
        raise _refuse("host", "the URL's host name is not valid") from None
    return WebhookUrl(
        url=normalised,
        scheme=scheme,
        host=host,
        port=port,
        address=address,
    )


def _split_netloc(netloc: str) -> tuple[str, str | None]:
    """(host, port text or None when there is no colon); the host still bracketed-free."""
    if netloc.startswith("["):
        inside, bracket, after = netloc[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise _refuse("host", "the URL's host is not valid")
        return f"[{inside}]", (after[1:] if after else None)
    host, colon, port = netloc.partition(":")
    if ":" in port:
        raise _refuse("host", "an IPv6 address must be written in brackets")
    return host, (port if colon else None)


def _port(port_text: str | None, scheme: str) -> int:
    if port_text is None:
        return DEFAULT_PORTS[scheme]
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        raise _refuse("port", "the URL's port must be a number from 1 to 65535")
    return int(port_text)


def _host(text: str, policy: DestinationPolicy) -> tuple[str, IPAddress | None]:
    """The host in ASCII and lower case, and its address when it is an address literal."""
    if text.startswith("["):
        inside = text[1:-1]
        if "%" in inside:
            raise _refuse("host", "the URL's IPv6 address must not have a zone id")
        try:
            v6 = IPv6Address(inside)
        except ValueError:
            raise _refuse("host", "the URL's IPv6 address is not valid") from None
        return v6.compressed, v6
    if not text:
        raise _refuse("host", "the URL has no host")
    try:
        host = text.encode("idna").decode("ascii").lower() if not text.isascii() else text.lower()
    except UnicodeError:
        raise _refuse("host", "the URL's host name is not valid") from None
    if host.endswith("."):
        raise _refuse("host", "the URL's host name must not end with a dot")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse("host", "the URL's host name is not valid")
    if len(labels) == 4 and all(label.isdigit() for label in labels):
        try:
            v4 = IPv4Address(host)  # strict: four decimal parts, no leading zeros
        except ValueError:
            pass
        else:
            return str(v4), v4
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # What a browser or libc would read as an IPv4 address in another notation.
        raise _refuse(
            "numeric_host",
            "an IPv4 address must be written as four decimal numbers (no numeric, hex or "
            "octal forms)",
        )
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        if policy.local_receivers:
            return host, None
        raise _refuse("reserved_name", "the URL's host name is reserved for local use")
    if host in _METADATA_NAMES or any(
        host == suffix or host.endswith(f".{suffix}") for suffix in _INTERNAL_SUFFIXES
    ):
        raise _refuse("reserved_name", "the URL's host name is reserved for internal use")
    if len(labels) < 2:
        raise _refuse("host", "the URL's host name must be a fully qualified domain name")
    return host, None
