"""An httpx client that only ever connects to addresses `guard.check_host` accepted.

Usage::

    client = guarded_client(policy)
    target = await check_url(url, policy)        # UnsafeTarget / ResolveFailed
    with pinned(target):
        response = await client.post(target.url, content=body)

Inside `pinned`, a new connection to (host, port) goes to the addresses that were checked:
no second lookup, so no DNS-rebinding window. The URL keeps the name, so the Host header,
TLS SNI and certificate verification are those of the name. Without a pin the network
backend resolves and checks the host itself. Pooled keep-alive connections were checked
when they were opened, which is what makes reuse safe.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import typing
from collections.abc import Iterator
from contextvars import ContextVar

import httpcore
import httpx

from services.net.guard import NetPolicy, ResolvedTarget, UnsafeTarget, check_host

_PINS: ContextVar[dict[tuple[str, int], tuple[str, ...]] | None] = ContextVar(
    "net_pins", default=None,
)


@contextlib.contextmanager
def pinned(target: ResolvedTarget) -> Iterator[None]:
    """Connections opened in this block to target's host and port use its checked addresses."""
    pins = dict(_PINS.get() or {})
    pins[(target.host.lower(), target.port)] = target.addresses
    token = _PINS.set(pins)
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Network backend that swaps the host name for a checked IP at connect time."""

    def __init__(self, policy: NetPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = (_PINS.get() or {}).get((host.lower(), port))
        if addresses is None:
            addresses = await check_host(host, port, self._policy)
        error: Exception | None = None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTarget("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool built on `PinnedBackend`."""

    def __init__(self, policy: NetPolicy, *, limits: httpx.Limits,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False, limits=limits)
        ssl_context = ssl_context or httpx.create_ssl_context(trust_env=False)
        # httpx 0.28 takes no network backend argument, so the pool it built is replaced
        # with the same pool on the pinned backend (same limits, HTTP/1.1 only).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(policy),
        )


def guarded_client(
    policy: NetPolicy, *, max_connections: int = 1000, headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """A client for untrusted URLs: pinned, checked connects; no redirects; no env proxies.

    `ssl_context` replaces the default (system CAs, certificate and host name verified).
    """
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections, keepalive_expiry=30)
    timeout = httpx.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s,
                            write=policy.read_timeout_s, pool=None)
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, limits=limits, ssl_context=ssl_context),
        timeout=timeout,
        follow_redirects=False, trust_env=False, headers=headers,
    )
