"""Which addresses a web source may fetch from: a guard against server-side request forgery.

A sitemap, a crawled page or a redirect could point the bot at ``http://169.254.169.254/``
(a cloud's instance metadata, with its credentials), ``http://localhost:6333`` (the Qdrant
behind it) or a host of the internal network, and the fetched text would become answers. So
every request of a web source, each redirect hop included (an httpx request hook, which httpx
runs before each hop), is refused unless the host's every address is globally routable
(:attr:`ipaddress.IPv4Address.is_global`: not private, loopback, link-local, shared
100.64/10, reserved or unspecified; and not multicast), after resolving the name. A source
allows chosen hosts explicitly with ``allow_private_hosts`` (e.g. an intranet wiki).

OWASP's SSRF Prevention Cheat Sheet, "Case 2": resolve, check every address, re-check each
redirect. Not covered: a DNS answer that changes between this check and httpx's own lookup
(DNS rebinding); use an egress proxy or firewall where that matters.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddressError(httpx.RequestError):
    """A web source's request was refused: its host is, or resolves to, a non-public address."""


def is_public(address: Address) -> bool:
    """Whether ``address`` is globally routable unicast (IPv4-mapped IPv6 judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def _addresses(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def request_guard(allowed_hosts: Iterable[str] = ()) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx ``request`` event hook that refuses requests to non-public addresses, except to
    the hosts named in ``allowed_hosts`` (compared with the URL's host, case-insensitively).

    Raises (from the hook):
        PrivateAddressError: the host is, or resolves to, a non-public address.
        httpx.ConnectError: the host name does not resolve.
    """
    allowed = frozenset(h.lower().strip("[]") for h in allowed_hosts)

    async def check(request: httpx.Request) -> None:
        host = request.url.host.lower()
        if host in allowed:
            return
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await _addresses(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        private = [str(a) for a in addresses if not is_public(a)]
        if private:
            raise PrivateAddressError(
                f"{host} is a non-public address ({', '.join(private)}); list it in the "
                "source's allow_private_hosts to fetch it",
                request=request,
            )

    return check
