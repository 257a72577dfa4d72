"""Where outbound HTTP may go: public addresses, whether written in the URL or resolved from a name."""
from __future__ import annotations

import pytest

from realtime.destinations import PublicOnlyResolver, RefusedDestination, refused_address, refused_url


@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "a loopback address"),
    ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4 written as IPv6
    ("169.254.169.254", "a link-local address"),  # cloud metadata
    ("fe80::1", "a link-local address"),
    ("10.1.2.3", "a private address"),
    ("192.168.1.10", "a private address"),
    ("172.16.0.1", "a private address"),
    ("100.64.0.1", "a private address"),  # carrier-grade NAT
    ("0.0.0.0", "a private address"),
    ("fd00::1", "a private address"),
    ("224.0.0.1", "a private address"),  # multicast
    ("93.184.215.14", None),
    ("2606:4700::1111", None),
])
def test_only_public_addresses_are_allowed(address, reason):
    assert refused_address(address) == reason


def test_urls_naming_an_address_are_judged_names_are_left_to_resolution():
    assert refused_url("https://10.0.0.7:8443/hooks") == "10.0.0.7 is a private address"
    assert refused_url("http://[::1]/x") == "::1 is a loopback address"
    assert refused_url("https://93.184.215.14/hooks") is None
    assert refused_url("https://hooks.example.com/x") is None
    assert refused_url("not a url") is None


async def test_a_name_resolving_privately_is_refused_when_resolved():
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(RefusedDestination, match="localhost resolves to a loopback address"):
            await resolver.resolve("localhost", 80)
        [answer] = await resolver.resolve("93.184.215.14", 443)  # an address resolves to itself
        assert answer["host"] == "93.184.215.14"
    finally:
        await resolver.close()
