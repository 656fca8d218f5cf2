"""Builds the Authenticator: Redis pub/sub revocations and usage when a client is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config import GovernanceSettings
from services.auth.authenticator import Authenticator, FindKey
from services.auth.memory_revocation_store import MemoryKeyUsageStore, MemoryRevocationBus
from services.auth.revocation_store import KeyUsageStore, RevocationBus

if TYPE_CHECKING:
    from redis.asyncio import Redis


def build_authenticator(settings: GovernanceSettings, find_key: FindKey, redis: Redis | None, *,
                        prefix: str) -> Authenticator:
    bus: RevocationBus
    usage: KeyUsageStore
    if redis is not None:
        from services.auth.redis_revocation_store import RedisKeyUsageStore, RedisRevocationBus

        bus, usage = RedisRevocationBus(redis, prefix=prefix), RedisKeyUsageStore(redis, prefix=prefix)
    else:
        bus, usage = MemoryRevocationBus(), MemoryKeyUsageStore()
    return Authenticator(find_key, bus, usage, ttl_s=settings.key_cache_ttl_s, flush_s=settings.key_usage_flush_s)
