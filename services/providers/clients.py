"""SDK clients for one adapter: one shared HTTP connection pool, and a small LRU of SDK
client objects per credential.

Building an SDK client with its own HTTP client costs 50-200 ms here (an SSL context,
certificate loading, the pool), on top of losing warm connections; with a shared pool it
costs ~0.1 ms. So each adapter owns one pool for its base URL (built on first use, closed
by `aclose`), and SDK clients per credential are cached by a digest of the key (never the
key itself). Evicting one closes nothing: the pool is shared.
"""

from __future__ import annotations

import hashlib
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, Generic, TypeVar

import certifi

C = TypeVar("C")
# Told of every provider answer (provider name, the httpx response): the scheduler learns
# capacity from rate-limit headers through it. Must not raise.
ResponseObserver = Callable[[str, Any], Awaitable[None]]
P = TypeVar("P")

# Generous pool: a worker keeps up to ~1000 provider calls in flight.
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE = 200


@lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """One TLS context (certifi's CAs, as httpx uses) for every pool: loading the CA bundle
    is most of the ~40 ms an HTTP client costs to build."""
    return ssl.create_default_context(cafile=certifi.where())


class SdkClients(Generic[P, C]):
    def __init__(self, make_pool: Callable[[], P], make_client: Callable[[P, str], C],
                 close_pool: Callable[[P], Awaitable[Any]], *, size: int = 64) -> None:
        self._make_pool = make_pool
        self._make_client = make_client
        self._close_pool = close_pool
        self._size = max(1, size)
        self._pool: P | None = None
        self._clients: OrderedDict[bytes, C] = OrderedDict()

    def get(self, api_key: str) -> C:
        key = hashlib.blake2b(api_key.encode(), digest_size=16).digest()
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        if self._pool is None:
            self._pool = self._make_pool()
        client = self._make_client(self._pool, api_key)
        self._clients[key] = client
        if len(self._clients) > self._size:
            self._clients.popitem(last=False)
        return client

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close the connection pool (at shutdown); safe to call twice."""
        self._clients.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            await self._close_pool(pool)
