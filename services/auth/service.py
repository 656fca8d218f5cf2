"""Resolves `Authorization: Bearer <key>` to an org, with a short in-process cache.

Every request authenticates, so a hit must cost no I/O: hashes are cached for 30 s
(a revoked key stops working within that), misses for 5 s against key-guessing floods.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from services.auth.keys import KEY_SCHEME, ApiKey, generate_key, hash_key
from services.config.store import ConfigStore
from services.errors import Unauthorized

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

    def clear(self) -> None:
        self._entries.clear()


async def authenticate(store: ConfigStore, cache: KeyCache, authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization header (expected 'Bearer <api key>')")
    scheme, _, raw = authorization.partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw.startswith(f"{KEY_SCHEME}_"):
        raise Unauthorized("malformed Authorization header (expected 'Bearer aim_...')")
    key_hash = hash_key(raw)
    known, org_id = cache.get(key_hash)
    if not known:
        record = await store.find_api_key(key_hash)
        org_id = record.org_id if record else None
        cache.put(key_hash, org_id)
    if org_id is None:
        raise Unauthorized("invalid or revoked API key")
    return org_id


async def create_api_key(store: ConfigStore, org_id: str, name: str = "") -> str:
    """Create and store a key for `org_id`; returns the raw key (shown once)."""
    raw, record = generate_key(org_id, name)
    await store.add_api_key(record)
    return raw


async def register_raw_key(store: ConfigStore, org_id: str, raw: str, name: str = "") -> None:
    """Store a caller-chosen key (the development key from APP_DEV_API_KEY)."""
    if await store.find_api_key(hash_key(raw)) is None:
        prefix = raw.split("_")[1] if raw.count("_") >= 2 else raw[:8]
        await store.add_api_key(ApiKey(org_id=org_id, name=name, prefix=prefix, key_hash=hash_key(raw)))
