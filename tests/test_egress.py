"""The web sources' address guard (``knowledge.sources.egress``): which addresses count as
public, and literal private addresses refused before any connection."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from knowledge.sources.egress import PrivateAddressError, is_public, request_guard


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "10.1.2.3",  # private
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud instance metadata
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",  # unspecified
        "224.0.0.1",  # multicast
        "::1",
        "fe80::1",
        "fd00::1",  # unique local
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://[::1]:6333/collections"]
)
async def test_literal_private_addresses_are_refused(url: str) -> None:
    guard = request_guard()
    with pytest.raises(PrivateAddressError, match="non-public address"):
        await guard(httpx.Request("GET", url))
    await request_guard(["169.254.169.254", "::1"])(httpx.Request("GET", url))  # allowed
