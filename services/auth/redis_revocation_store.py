"""Redis auth adapters: revocations over pub/sub, key usage in one hash per key."""

from __future__ import annotations

from collections.abc import Callable

from redis.asyncio import Redis

from services.common.pubsub import Subscription


class RedisRevocationBus:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self.channel = f"{prefix}auth:revoked"
        self._subscription: Subscription | None = None

    @property
    def live(self) -> bool:
        return self._subscription is not None and self._subscription.live

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        self._subscription = Subscription(self._redis, self.channel, on_revoked)
        await self._subscription.start()

    async def publish(self, key_id: str) -> None:
        await self._redis.publish(self.channel, key_id)

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()


class RedisKeyUsageStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "keyuse:"

    async def add(self, uses: dict[str, tuple[int, float]]) -> None:
        if not uses:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key_id, (count, last) in uses.items():
                pipe.hincrby(self._prefix + key_id, "count", count)
                pipe.hset(self._prefix + key_id, "last_used", repr(last))
            await pipe.execute()

    async def read(self, key_ids: list[str]) -> dict[str, tuple[int, float | None]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key_id in key_ids:
                pipe.hmget(self._prefix + key_id, ["count", "last_used"])
            rows = await pipe.execute()
        return {k: (int(c or 0), float(last) if last else None) for k, (c, last) in zip(key_ids, rows, strict=True)}
