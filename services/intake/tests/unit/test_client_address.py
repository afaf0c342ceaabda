"""Which client a request comes from: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import pytest

from onceonly.intake.client_address import client_address, parse_proxies
from onceonly.intake.settings import IntakeSettings

PROXIES = parse_proxies("10.0.0.0/8, 192.168.1.7, fd00::/8")


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_address("127.0.0.1", ["1.2.3.4"], ()) == "127.0.0.1"
    assert client_address("203.0.113.9", ["1.2.3.4"], ()) == "203.0.113.9"


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert client_address("203.0.113.9", ["10.0.0.1, 1.2.3.4"], PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client() -> None:
    # The client typed the first entry; our proxy appended what it saw (198.51.100.4).
    header = ["6.6.6.6, 198.51.100.4"]
    assert client_address("10.1.2.3", header, PROXIES) == "198.51.100.4"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    headers = ["6.6.6.6, 198.51.100.4", "192.168.1.7, 10.9.9.9"]
    assert client_address("10.1.2.3", headers, PROXIES) == "198.51.100.4"


@pytest.mark.parametrize("header", [[], [""], ["10.0.0.5"], ["192.168.1.7, 10.0.0.5"]])
def test_when_every_hop_is_trusted_the_peer_is_the_client(header: list[str]) -> None:
    assert client_address("10.1.2.3", header, PROXIES) == "10.1.2.3"


@pytest.mark.parametrize("entry", ["unknown", "1.2.3.4:80", "not an address", "999.1.1.1"])
def test_a_malformed_entry_limits_by_the_proxy(entry: str) -> None:
    assert client_address("10.1.2.3", [f"6.6.6.6, {entry}"], PROXIES) == "10.1.2.3"


def test_ipv6_and_ipv4_mapped_addresses() -> None:
    assert client_address("fd00::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"
    assert client_address("::ffff:10.0.0.1", ["198.51.100.4"], PROXIES) == "198.51.100.4"
    assert client_address("[2001:db8::1]", ["1.2.3.4"], PROXIES) == "2001:db8::1"


def test_no_peer() -> None:
    assert client_address(None, ["1.2.3.4"], PROXIES) == "unknown"


def test_the_setting_is_checked_at_start_up() -> None:
    settings = IntakeSettings(environment="development", trusted_proxies="10.0.0.0/8, ::1")
    assert len(settings.trusted_proxy_networks()) == 2
    assert IntakeSettings(environment="development").trusted_proxy_networks() == ()
    with pytest.raises(ValueError, match="not an IP address or CIDR network"):
        IntakeSettings(environment="development", trusted_proxies="10.0.0.0/33")
