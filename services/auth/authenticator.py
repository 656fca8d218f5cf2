"""Resolves `Authorization: Bearer <key>` to a Caller, with a per-process cache that a
revocation on any process clears within milliseconds (Redis pub/sub).

Every request authenticates, so a hit costs no I/O: one SHA-256 and a dict lookup. While
the revocation channel is down (`bus.live` False) hits are not trusted and every request
reads the store, so a lost message can never keep a revoked key alive. Expiry is checked
on every hit. Usage (count, last used) is counted in memory and flushed every second:
one Redis write per request would double the auth cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from services.auth.caller import Caller
from services.auth.keys import KEY_SCHEME, ApiKey, hash_key
from services.auth.revocation_store import KeyUsageStore, RevocationBus
from services.errors import Unauthorized

log = logging.getLogger(__name__)
MISS_TTL_S = 5.0
CACHE_SIZE = 10_000

FindKey = Callable[[str], Awaitable[ApiKey | None]]


def bearer_key(authorization: str | None) -> str:
    """The raw key of `Authorization: Bearer aim_...`; 401 when absent or malformed."""
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
    scheme, _, raw = authorization.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(f"{KEY_SCHEME}_"):
        raise Unauthorized("malformed Authorization header (expected 'Bearer aim_...')")
    return raw


class Authenticator:
    def __init__(self, find_key: FindKey, bus: RevocationBus, usage: KeyUsageStore, *,
                 ttl_s: float = 30.0, flush_s: float = 1.0) -> None:
        self._find = find_key
        self._bus = bus
        self.usage = usage
        self._ttl_s = ttl_s
        self._flush_s = flush_s
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()
        self._pending: dict[str, tuple[int, float]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe to revocations and start flushing usage counts."""
        await self._bus.start(self._on_revoked)
        self._flusher = asyncio.create_task(self._flush_loop(), name="key-usage-flush")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()
        await self._bus.close()

    def _on_revoked(self, key_id: str) -> None:
        if key_id == "*":
            self._cache.clear()
            return
        for key_hash in [h for h, (_, p) in self._cache.items() if p is not None and p.key_id == key_id]:
            del self._cache[key_hash]

    async def revoked(self, key_id: str) -> None:
        """Drop `key_id` here and on every other process."""
        self._on_revoked(key_id)
        await self._bus.publish(key_id)

    async def authenticate(self, authorization: str | None) -> Caller:
        principal = await self._lookup(hash_key(bearer_key(authorization)))
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
        now = time.time()
        if principal.expires_at is not None and principal.expires_at <= now:
            raise Unauthorized("API key expired", code="api_key_expired")
        count, _ = self._pending.get(principal.key_id, (0, 0.0))
        self._pending[principal.key_id] = (count + 1, now)
        return principal

    async def _lookup(self, key_hash: str) -> Caller | None:
        entry = self._cache.get(key_hash)
        if entry is not None and entry[0] > time.monotonic() and self._bus.live:
            return entry[1]
        record = await self._find(key_hash)
        principal = Caller.of(record) if record is not None and not record.revoked else None
        self._cache[key_hash] = (time.monotonic() + (self._ttl_s if principal else MISS_TTL_S), principal)
        self._cache.move_to_end(key_hash)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    async def flush(self) -> None:
        """Write this process's pending usage counts to the store."""
        pending, self._pending = self._pending, {}
        try:
            await self.usage.add(pending)
        except Exception:
            log.warning("key usage flush failed; counts kept for the next one")
            for key_id, (count, last) in pending.items():
                old, _ = self._pending.get(key_id, (0, 0.0))
                self._pending[key_id] = (old + count, last)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()
