"""Where outbound HTTP may go: public addresses only, unless private ones are allowed.

Integrators hand us URLs we then request: lists to fetch, webhooks to deliver. Left
alone, such a URL could make our servers reach into our own network (a database, a
cloud metadata service at 169.254.169.254) on the integrator's behalf. So a request
goes to a public address only:

- a URL naming a literal address is checked as it is (:func:`refused_url`);
- a name is checked when it is resolved, by the connector's :class:`PublicOnlyResolver`,
  so the check and the connection use the same answer: a name cannot resolve publicly
  for the check and privately for the connection (DNS rebinding).

The ``allow_private_urls`` setting lifts the rule, for a test bench or an installation
whose lists and receivers live on its own network.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver


class RefusedDestination(Exception):
    """A request's host is, or resolves only to, addresses outbound requests may not reach."""


# IPv6 prefixes that carry an IPv4 address, which a translator or relay then reaches.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use: the operator picks where it sits
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (SIIT)
EMBEDDED = "an IPv4 address written as IPv6"


def refused_address(address: str) -> str | None:
    """Why outbound requests may not go to this IP address, or None.

    An IPv6 address that carries an IPv4 one (mapped, compatible, translated, NAT64, 6to4,
    Teredo) is refused whatever it carries: it names the IPv4 address's reason when that
    one is refused too ("64:ff9b::127.0.0.1" is a loopback address), else EMBEDDED.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return next((r for r in map(_refused, embedded) if r), EMBEDDED)
    return _refused(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses ``ip`` carries (empty when their place is unknown), or None."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the relay's server and the (de-obfuscated) client
    if ip in _NAT64 or ip in _TRANSLATED or (int(ip) >> 32 == 0 and int(ip) > 1):  # ...or IPv4-compatible
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in _NAT64_LOCAL:
        return []
    return None


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if not ip.is_global or ip.is_multicast:
        return "a private address"
    return None


def refused_url(url: str) -> str | None:
    """Why outbound requests may not go to ``url`` ("10.0.0.7 is a private address"), or None.

    Only a host written as an address is judged here; a name is judged when it is resolved.
    """
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        reason = refused_address(host)
    except ValueError:
        return None  # a name
    return f"{host} is {reason}" if reason else None


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp does, then drops the addresses requests may not go to; a name
    with nothing left raises RefusedDestination."""

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        answers = await self._resolver.resolve(host, port, family)
        public = [a for a in answers if refused_address(a["host"]) is None]
        if not public:
            raise RefusedDestination(f"{host} resolves to {refused_address(answers[0]['host'])}")
        return public

    async def close(self) -> None:
        await self._resolver.close()


def connector(*, allow_private: bool = False) -> aiohttp.TCPConnector:
    """The connector for a session whose requests go where integrators say.

    aiohttp connects to a literal address without resolving it: check URLs with
    :func:`refused_url` before requesting them.
    """
    return aiohttp.TCPConnector(resolver=None if allow_private else PublicOnlyResolver())
