"""Platform API keys: resolve `Authorization: Bearer <key>` to an org (with a short
in-process cache), and an org's own keys (create, shown once; list; revoke).

Every request authenticates, so a hit must cost no I/O: hashes are cached for 30 s
(a revoked key stops working within that), misses for 5 s against key-guessing floods.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from services.auth.keys import KEY_SCHEME, ApiKey, generate_key, hash_key
from services.auth.store import ApiKeyStore
from services.config.paging import Page
from services.errors import NotFound, Unauthorized

HIT_TTL_S = 30.0
MISS_TTL_S = 5.0
CACHE_SIZE = 10_000


class KeyCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    def get(self, key_hash: str) -> tuple[bool, str | None]:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, org_id: str | None) -> None:
        self._entries[key_hash] = (time.monotonic() + (HIT_TTL_S if org_id else MISS_TTL_S), org_id)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self._entries.clear()


class KeyService:
    def __init__(self, store: ApiKeyStore, cache: KeyCache | None = None) -> None:
        self.store = store
        self.cache = cache or KeyCache()

    async def authenticate(self, authorization: str | None) -> str:
        """The org of the key in the header; Unauthorized when missing, malformed or unknown."""
        if not authorization:
            raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
        scheme, _, raw = authorization.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw.startswith(f"{KEY_SCHEME}_"):
            raise Unauthorized("malformed Authorization header (expected 'Bearer aim_...')")
        key_hash = hash_key(raw)
        known, org_id = self.cache.get(key_hash)
        if not known:
            record = await self.store.find_api_key(key_hash)
            org_id = record.org_id if record else None
            self.cache.put(key_hash, org_id)
        if org_id is None:
            raise Unauthorized("invalid or revoked API key")
        return org_id

    async def create(self, org_id: str, name: str = "") -> tuple[str, ApiKey]:
        """Create and store a key for `org_id`: (the raw key, shown once; its record)."""
        raw, record = generate_key(org_id, name)
        await self.store.add_api_key(record)
        return raw, record

    async def register_raw(self, org_id: str, raw: str, name: str = "") -> None:
        """Store a caller-chosen key (the development key from APP_DEV_API_KEY)."""
        if await self.store.find_api_key(hash_key(raw)) is None:
            prefix = raw.split("_")[1] if raw.count("_") >= 2 else raw[:8]
            await self.store.add_api_key(
                ApiKey(org_id=org_id, name=name, prefix=prefix, key_hash=hash_key(raw))
            )

    async def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[ApiKey]:
        """Oldest first. An org holds a handful of keys, so the page is cut in memory."""
        keys = sorted(await self.store.list_api_keys(org_id), key=lambda k: (k.created_at, k.id))
        if cursor is not None:
            ids = [k.id for k in keys]
            keys = keys[ids.index(cursor) + 1:] if cursor in ids else []
        more = len(keys) > limit
        keys = keys[:limit]
        return Page(items=keys, next_cursor=keys[-1].id if more else None)

    async def revoke(self, org_id: str, key_id: str) -> None:
        """Refused at once by this process; other processes' caches accept a revoked key for
        up to HIT_TTL_S (30 s)."""
        if not await self.store.revoke_api_key(org_id, key_id):
            raise NotFound(f"API key {key_id!r} not found", code="api_key_not_found")
        for key in await self.store.list_api_keys(org_id):
            if key.id == key_id:
                self.cache.forget(key.key_hash)
