"""Where outbound HTTP may go: public addresses, whether written in the URL or resolved from a name."""
from __future__ import annotations

import socket

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


EMBEDDED = "an IPv4 address written as IPv6"


@pytest.mark.parametrize("address, reason", [
    # Every way of writing an IPv4 address inside an IPv6 one, private or public: a NAT64
    # gateway, a 6to4 or Teredo relay, or the kernel itself would reach the IPv4 address.
    ("::ffff:10.0.0.7", "a private address"),  # IPv4-mapped
    ("::ffff:93.184.215.14", EMBEDDED),
    ("::ffff:0:127.0.0.1", "a loopback address"),  # IPv4-translated (SIIT)
    ("::127.0.0.1", "a loopback address"),  # IPv4-compatible (deprecated)
    ("::93.184.215.14", EMBEDDED),
    ("64:ff9b::127.0.0.1", "a loopback address"),  # NAT64, well-known prefix
    ("64:ff9b::169.254.169.254", "a link-local address"),
    ("64:ff9b::93.184.215.14", EMBEDDED),
    ("64:ff9b:1::a00:7", EMBEDDED),  # NAT64, local-use prefix: where the IPv4 sits is a local choice
    ("64:ff9b:1:2::5db8:d70e", EMBEDDED),
    ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
    ("2002:5db8:d70e::1", EMBEDDED),  # 6to4 of a public address
    ("2001:0:5db8:d70e:0:ffff:80ff:fffe", "a loopback address"),  # Teredo, client 127.0.0.1
    ("2001:0:5db8:d70e::a247:28f1", EMBEDDED),  # Teredo, a public client
])
def test_ipv4_addresses_embedded_in_ipv6_are_refused(address, reason):
    assert refused_address(address) == reason


def test_urls_naming_an_address_are_judged_names_are_left_to_resolution():
    assert refused_url("https://10.0.0.7:8443/hooks") == "10.0.0.7 is a private address"
    assert refused_url("http://[::1]/x") == "::1 is a loopback address"
    assert refused_url("https://93.184.215.14/hooks") is None
    assert refused_url("https://hooks.example.com/x") is None
    assert refused_url("not a url") is None
    assert refused_url("https://[64:ff9b::127.0.0.1]/x") == "64:ff9b::127.0.0.1 is a loopback address"
    assert refused_url("https://[::127.0.0.1]/x") == "::127.0.0.1 is a loopback address"


async def test_a_name_resolving_privately_is_refused_when_resolved():
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(RefusedDestination, match="localhost resolves to a loopback address"):
            await resolver.resolve("localhost", 80)
        [answer] = await resolver.resolve("93.184.215.14", 443)  # an address resolves to itself
        assert answer["host"] == "93.184.215.14"
        # An address that resolves to itself is judged as resolved too.
        for embedded in ("64:ff9b::127.0.0.1", "::ffff:93.184.215.14", "2002:7f00:1::"):
            with pytest.raises(RefusedDestination):
                await resolver.resolve(embedded, 443, socket.AF_INET6)
    finally:
        await resolver.close()
