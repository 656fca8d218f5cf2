"""Resolves `Authorization: Bearer <key>` to an org, with a short in-process cache.

Every request authenticates, so a hit must cost no I/O: hashes are cached for 30 s
(a revoked key stops working within that), misses for 5 s against key-guessing floods.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from services.auth.authenticator import bearer_key
from services.auth.keys import generate_key, hash_key
from services.errors import Unauthorized

if TYPE_CHECKING:
    from services.context import Context

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


def _key_cache(ctx: Context) -> KeyCache:
    cache = ctx.extras.get("key_cache")
    if cache is None:
        cache = ctx.extras["key_cache"] = KeyCache()
    return cache


async def authenticate(ctx: Context, authorization: str | None) -> str:
    key_hash = hash_key(bearer_key(authorization))
    cache = _key_cache(ctx)
    known, org_id = cache.get(key_hash)
    if not known:
        record = await ctx.config.find_api_key(key_hash)
        org_id = record.org_id if record else None
        cache.put(key_hash, org_id)
    if org_id is None:
        raise Unauthorized("invalid or revoked API key")
    return org_id


async def create_api_key(ctx: Context, org_id: str, name: str = "") -> str:
    """Create and store a key for `org_id`; returns the raw key (shown once)."""
    raw, record = generate_key(org_id, name)
    await ctx.config.add_api_key(record)
    return raw


async def register_raw_key(ctx: Context, org_id: str, raw: str, name: str = "") -> None:
    """Store a caller-chosen key (the development key from APP_DEV_API_KEY)."""
    from services.auth.keys import ApiKey

    if await ctx.config.find_api_key(hash_key(raw)) is None:
        prefix = raw.split("_")[1] if raw.count("_") >= 2 else raw[:8]
        await ctx.config.add_api_key(ApiKey(org_id=org_id, name=name, prefix=prefix, key_hash=hash_key(raw)))
