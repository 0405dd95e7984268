"""Which addresses webhooks may reach: a guard against server-side request forgery.

Private, loopback, link-local and other non-public addresses are refused (the CRM must not be
made to probe its own network) unless ``CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS`` is set. An IPv6
address that carries an IPv4 address (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is
public only if every IPv4 address it carries is: ``64:ff9b::7f00:1`` reaches 127.0.0.1.

The URL is checked when an endpoint is saved. At delivery the target is resolved once per
connection and the connection goes to an address that was just checked
(:class:`CheckedBackend`), never to the name: a name cannot pass a check and then point
inside the network for the connection itself (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

# (host, port) -> the addresses the host resolves to.
Resolve = Callable[[str, int], Awaitable[list[str]]]

# Ranges whose last 32 bits are an IPv4 address: IPv4-compatible, IPv4-mapped, NAT64 (RFC 6052).
_LAST_32_BITS = tuple(
    ipaddress.IPv6Network(net) for net in ("::/96", "::ffff:0:0/96", "64:ff9b::/96")
)
# Local-use NAT64 (RFC 8215): where it carries the IPv4 address depends on the operator's
# prefix length, and it is local by definition.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


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


def _carried_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (its packets reach them)."""
    carried = []
    if any(ip in net for net in _LAST_32_BITS):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF))
    if ip.sixtofour is not None:
        carried.append(ip.sixtofour)
    if ip.teredo is not None:
        carried.extend(ip.teredo)
    return carried


def is_public(address: str) -> bool:
    """A global unicast address, and (for IPv6) one carrying only such IPv4 addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        return ip not in _LOCAL_NAT64 and all(is_public(str(v4)) for v4 in _carried_ipv4(ip))
    return True


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's answer (the default :data:`Resolve`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class TargetPolicy:
    """One app's rule for webhook targets: whether private addresses are allowed, and how
    names are resolved (the same resolver at creation and at delivery)."""

    allow_private: bool = False
    resolve: Resolve = system_resolve

    async def addresses(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, each one checked; UnsafeTarget if any may not be reached."""
        try:
            found = await self.resolve(host, port)
        except OSError as exc:
            raise UnsafeTarget(f"cannot resolve {host!r}: {exc}") from exc
        if not found:
            raise UnsafeTarget(f"cannot resolve {host!r}")
        blocked = [] if self.allow_private else sorted(a for a in found if not is_public(a))
        if blocked:
            raise UnsafeTarget(
                f"{host!r} resolves to a private, loopback or link-local address "
                f"({blocked[0]}); set CRM_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it"
            )
        return found

    async def check(self, url: str) -> None:
        """Refuse ``url`` when it is malformed or any address of its host is not allowed."""
        await self.addresses(*parse_target(url))

    def client(self, timeout: float) -> httpx.AsyncClient:
        """An HTTP client whose every connection goes through :class:`CheckedBackend`.

        Never through a proxy from the environment either: a proxy would resolve the name.
        (``SSL_CERT_FILE``/``SSL_CERT_DIR`` still name the trusted CAs, as for httpx.)
        """
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        # httpx builds its httpcore pool without a way to name the network backend; this pool
        # is the one it would build (TLS verified as by default), with ours.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=CheckedBackend(self),
        )
        return httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
        )


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting to the checked addresses of a name in turn.

    httpcore starts TLS with the URL's host name, so SNI and certificate verification (and
    the ``Host`` header) stay those of the name while the socket goes to the checked address.
    """

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() returns at least one
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("webhooks do not connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
