"""Webhook URL rules: what is accepted (and how it is normalised), what is refused and
why, and that any text whatever is either accepted or refused, never an error."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from onceonly.notify.errors import WebhookUrlRefused
from onceonly.notify.webhook_urls import (
    STRICT,
    DestinationPolicy,
    address_refusal,
    parse_webhook_url,
)

LOCAL = DestinationPolicy(local_receivers=True)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://portal.example.cn/hooks/onceonly", "https://portal.example.cn/hooks/onceonly"),
        ("HTTPS://Portal.Example.CN:443/Hooks", "https://portal.example.cn/Hooks"),
        ("https://portal.example.cn", "https://portal.example.cn/"),
        ("https://portal.example.cn?a=1&b=%2F", "https://portal.example.cn/?a=1&b=%2F"),
        ("https://portal.example.cn:8443/h", "https://portal.example.cn:8443/h"),
        ("https://8.8.8.8/h", "https://8.8.8.8/h"),
        ("https://[2606:4700:0::1111]/h", "https://[2606:4700::1111]/h"),
        (
            "https://政务.中国/回调?事项=1",
            "https://xn--zfr164b.xn--fiqs8s/%E5%9B%9E%E8%B0%83?%E4%BA%8B%E9%A1%B9=1",
        ),
    ],
)
def test_plain_https_urls_to_public_hosts_are_accepted_in_a_normal_form(
    url: str, normalised: str
) -> None:
    accepted = parse_webhook_url(url)
    assert accepted.url == normalised
    assert parse_webhook_url(accepted.url) == accepted  # the normal form is a fixed point


@pytest.mark.parametrize(
    ("url", "code"),
    [
        # Scheme: https only, written out.
        ("http://portal.example.cn/h", "scheme"),
        ("ftp://portal.example.cn/h", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://portal.example.cn/", "scheme"),
        ("https:portal.example.cn/h", "scheme"),
        ("https:/portal.example.cn/h", "scheme"),
        ("//portal.example.cn/h", "scheme"),
        ("", "empty"),
        # Control characters and whitespace anywhere, escaped ones too.
        ("https://portal.example.cn/h\r\nX-Injected: 1", "control_character"),
        ("https://portal.example.cn/h\n", "control_character"),
        ("\x00https://portal.example.cn/h", "control_character"),
        (" https://portal.example.cn/h", "control_character"),
        ("https://portal.example.cn/a b", "control_character"),
        ("https://portal.exa\tmple.cn/h", "control_character"),
        ("https://portal.example.cn/\u200bh", "control_character"),
        ("https://portal.example.cn/\u3000", "control_character"),
        ("https://portal.example.cn/h%0d%0aX:1", "control_character"),
        ("https://portal.example.cn/h%00", "control_character"),
        ("https://portal.example.cn/h%zz", "escape"),
        # Forms that parsers read differently.
        ("https://portal.example.cn\\@127.0.0.1/", "character"),
        ("https://portal.example.cn/<script>", "character"),
        ("https://user:s3cr3t@portal.example.cn/h", "userinfo"),
        ("https://user@portal.example.cn/h", "userinfo"),
        ("https://portal.example.cn@127.0.0.1/h", "userinfo"),
        ("https://portal.example.cn/h#frag", "fragment"),
        ("https://portal.example.cn/h#", "fragment"),
        ("https://portal.example.cn:0/h", "port"),
        ("https://portal.example.cn:65536/h", "port"),
        ("https://portal.example.cn:0443/h", "port"),
        ("https://portal.example.cn:/h", "port"),
        ("https://portal.example.cn:+443/h", "port"),
        ("https:///h", "host"),
        ("https://portal.example.cn./h", "host"),
        ("https://portal..example.cn/h", "host"),
        ("https://-portal.example.cn/h", "host"),
        ("https://portal_1.example.cn/h", "host"),
        ("https://intranet/h", "host"),
        ("https://[::1/h", "host"),
        ("https://[v1.x]/h", "host"),
        ("https://[fe80::1%25eth0]/h", "host"),
        ("https://::1/h", "host"),
        # Numeric, hex and octal IPv4.
        ("https://2130706433/h", "numeric_host"),
        ("https://0x7f000001/h", "numeric_host"),
        ("https://0x7f.1/h", "numeric_host"),
        ("https://0177.0.0.1/h", "numeric_host"),
        ("https://127.1/h", "numeric_host"),
        ("https://127.0.0.1.5/h", "numeric_host"),
        ("https://017700000001/h", "numeric_host"),
        ("https://portal.0x1/h", "numeric_host"),
        # Names reserved for local or internal use.
        ("https://localhost/h", "reserved_name"),
        ("https://LOCALHOST:8443/h", "reserved_name"),
        ("https://api.localhost/h", "reserved_name"),
        ("https://metadata.google.internal/computeMetadata/v1/", "reserved_name"),
        ("https://printer.local/h", "reserved_name"),
        ("https://router.home.arpa/h", "reserved_name"),
        ("https://metadata.tencentyun.com/latest/meta-data/", "reserved_name"),
        # Addresses webhooks may not reach.
        ("https://127.0.0.1/h", "address"),
        ("https://10.1.2.3/h", "address"),
        ("https://172.16.0.1/h", "address"),
        ("https://192.168.1.1/h", "address"),
        ("https://100.64.0.1/h", "address"),
        ("https://169.254.169.254/latest/meta-data/", "address"),
        ("https://100.100.100.200/latest/meta-data/", "address"),
        ("https://0.0.0.0/h", "address"),
        ("https://224.0.0.1/h", "address"),
        ("https://255.255.255.255/h", "address"),
        ("https://192.0.2.1/h", "address"),
        ("https://[::1]/h", "address"),
        ("https://[::]/h", "address"),
        ("https://[fd00:ec2::254]/h", "address"),
        ("https://[fc00::1]/h", "address"),
        ("https://[fe80::1]/h", "address"),
        ("https://[ff02::1]/h", "address"),
        ("https://[::ffff:127.0.0.1]/h", "address"),
        ("https://[::ffff:169.254.169.254]/h", "address"),
        ("https://[64:ff9b::7f00:1]/h", "address"),
        ("https://[2002:a9fe:a9fe::]/h", "address"),
        ("https://[::127.0.0.1]/h", "address"),
        # Full-width digits and dots become 127.0.0.1 under IDNA: judged as that.
        ("https://１２７．０．０．１/h", "address"),
    ],
)
def test_refused_urls_say_why(url: str, code: str) -> None:
    with pytest.raises(WebhookUrlRefused) as refused:
        parse_webhook_url(url)
    assert refused.value.code == code
    # The reason is for the integrator, and never repeats the URL (it may hold a secret).
    assert "s3cr3t" not in refused.value.reason
    assert not url or url not in refused.value.reason


def test_a_very_long_url_is_refused() -> None:
    with pytest.raises(WebhookUrlRefused) as refused:
        parse_webhook_url("https://portal.example.cn/" + "a" * 2048)
    assert refused.value.code == "length"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8123/hooks",
        "http://localhost:8123/hooks",
        "https://[::1]:8443/hooks",
        "http://10.0.0.7/hooks",
        "http://100.64.0.1/hooks",
        "http://portal.example.cn/hooks",
    ],
)
def test_local_receivers_allow_http_and_local_addresses(url: str) -> None:
    assert parse_webhook_url(url, LOCAL).url == url
    with pytest.raises(WebhookUrlRefused):
        parse_webhook_url(url, STRICT)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://0.0.0.0:8000/",
        "http://2130706433/",
        "http://metadata.google.internal/",
        "http://user:pass@127.0.0.1/",
        "http://127.0.0.1/\r\n",
    ],
)
def test_local_receivers_still_refuse_metadata_link_local_and_odd_forms(url: str) -> None:
    with pytest.raises(WebhookUrlRefused):
        parse_webhook_url(url, LOCAL)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("fe80::1%eth0", "a scoped IPv6 address"),
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
        ("2001:db8::1", "a special-purpose address"),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_refusal_names_the_kind_of_address(address: str, reason: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == reason


def test_only_loopback_private_and_shared_addresses_open_up_for_local_receivers() -> None:
    for text in ("127.0.0.1", "::1", "192.168.1.1", "fd12::1", "100.64.0.1"):
        assert address_refusal(ipaddress.ip_address(text), LOCAL) is None
    for text in ("169.254.169.254", "0.0.0.0", "224.0.0.1", "fe80::1", "240.0.0.1", "::"):
        assert address_refusal(ipaddress.ip_address(text), LOCAL) is not None


# Text made of what URL tricks are made of, and any text at all.
_URL_PIECES = st.sampled_from(
    [
        "https://", "http://", "//", "/", ":", "@", "[", "]", "%", "%0a", "%zz", "#", "?",
        "\\", ".", "0x", "0", "127", "1", "::", "ffff", "localhost", "example.cn", "xn--",
        "政务", "\r\n", "\t", " ", "\x00", "\u200b", "．", "１", "443", "65536", "-", "_",
    ]
)  # fmt: skip
_URLISH = st.lists(_URL_PIECES, max_size=12).map("".join)


@given(url=st.one_of(st.text(max_size=80), _URLISH, _URLISH.map("https://".__add__)))
@example(url="https://[::ffff:7f00:1]")
@example(url="https://xn--/")
@example(url="https://\u3002example.cn/")
def test_any_text_is_accepted_or_refused_and_never_an_error(url: str) -> None:
    for policy in (STRICT, LOCAL):
        try:
            accepted = parse_webhook_url(url, policy)
        except WebhookUrlRefused as refused:
            assert refused.reason
            continue
        # What is accepted is plain: printable ASCII, no user info, no fragment; httpx
        # takes it as it is; it is its own normal form; its address, if any, is allowed.
        assert accepted.url.isascii() and accepted.url.isprintable()
        assert "@" not in accepted.url.split("/")[2] and "#" not in accepted.url
        assert accepted.scheme in policy.schemes
        assert httpx.URL(accepted.url).raw_host.decode() == accepted.host
        assert parse_webhook_url(accepted.url, policy) == accepted
        if accepted.address is not None:
            assert address_refusal(accepted.address, policy) is None
