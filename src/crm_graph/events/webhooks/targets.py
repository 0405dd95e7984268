"""Which URLs webhooks may call: a guard against server-side request forgery.

Private, loopback, link-local and other non-public addresses are refused (the CRM must not be
made to probe its own network) unless ``CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS`` is set. The URL is
checked when an endpoint is saved and its host is resolved again before every attempt, so a
name that later points inside the network is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeTarget(ValueError):
    """The URL is malformed or resolves to an address webhooks may not reach."""


def parse_target(url: str) -> tuple[str, int]:
    """(host, port) of an ``http``/``https`` URL without credentials; UnsafeTarget otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("the URL must start with http:// or https://")
    if not parts.hostname:
        raise UnsafeTarget("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeTarget("the URL must not contain credentials")
    return parts.hostname, port


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_target(url: str, allow_private: bool) -> None:
    """Refuse ``url`` when it is malformed or any address of its host is not public."""
    host, port = parse_target(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host!r}: {exc}") from exc
    blocked = sorted({info[4][0] for info in infos if not _public(info[4][0])})
    if blocked:
        raise UnsafeTarget(
            f"{host!r} resolves to a private, loopback or link-local address ({blocked[0]}); "
            "set CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it"
        )
