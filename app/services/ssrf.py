"""Outbound URL policy for webhooks (server-side request forgery).

A target is refused when any address its host resolves to is loopback, private (RFC 1918, IPv6
ULA), link-local, CGNAT (100.64/10), multicast, unspecified, reserved or otherwise not globally
routable — including IPv4 addresses written as IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6
forms — unless ``webhook_allow_private_targets`` is on or the address is inside one of
``webhook_allowed_networks``. The check runs at registration and again before every delivery,
and the delivery connects to the address that was checked (no second resolution), so DNS
rebinding cannot slip a private address in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_6TO4 = ipaddress.ip_network("2002::/16")


class TargetRefused(ValueError):
    """The URL or the addresses its host resolves to are not allowed."""


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    require_https: bool

    @classmethod
    def of(cls, settings: Settings) -> TargetPolicy:
        return cls(
            allow_private=settings.webhook_allow_private_targets,
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in settings.webhook_allowed_networks),
            require_https=settings.environment == "production" and not settings.webhook_allow_http,
        )


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query
    address: str  # the checked address the delivery connects to


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why this address is no place for a webhook, or None when it is a public one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = forbidden_reason(embedded)
        return f"{reason} (as {address})" if reason else None
    checks = (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
              ("link-local", address.is_link_local), ("multicast", address.is_multicast),
              ("CGNAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
              ("private", address.is_private), ("reserved", address.is_reserved),
              ("not globally routable", not address.is_global))
    return next((name for name, hit in checks if hit), None)


def check_address(address: IPAddress, policy: TargetPolicy) -> None:
    reason = forbidden_reason(address)
    if reason is None or policy.allow_private:
        return
    if any(address in network for network in policy.allowed_networks):
        return
    raise TargetRefused(f"the URL's host resolves to a {reason} address ({address})")


def parse_url(url: str, policy: TargetPolicy) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http or https")
    if scheme == "http" and policy.require_https:
        raise TargetRefused("the URL must be https")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the URL's port is not valid") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, path


async def resolve(url: str, policy: TargetPolicy, *, resolve_seconds: float = 5.0) -> Target:
    """Resolves the URL's host and checks every address; returns the first to connect to."""
    scheme, host, port, path = parse_url(url, policy)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            async with asyncio.timeout(resolve_seconds):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise TargetRefused(f"the URL's host does not resolve ({type(exc).__name__})") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
        if not addresses:
            raise TargetRefused("the URL's host does not resolve")
    for address in addresses:
        check_address(address, policy)
    return Target(scheme, host, port, path, str(addresses[0]))
