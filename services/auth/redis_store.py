"""Redis auth adapters: revocations over pub/sub, key usage in one hash per key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RECONNECT_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)
START_WAIT_S = 2.0


class RedisRevocationBus:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self.channel = f"{prefix}auth:revoked"
        self.live = False
        self._task: asyncio.Task[None] | None = None

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(on_revoked, subscribed), name="key-revocations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), START_WAIT_S)

    async def _listen(self, on_revoked: Callable[[str], None], subscribed: asyncio.Event) -> None:
        attempt = 0
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                on_revoked("*")  # whatever was published while unsubscribed is lost
                self.live, attempt = True, 0
                subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        on_revoked(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError):
                self.live = False
                on_revoked("*")
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                attempt += 1
                log.warning("key revocation channel lost, resubscribing", extra={"delay_s": delay})
                await asyncio.sleep(delay)
            finally:
                self.live = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[attr-defined]

    async def publish(self, key_id: str) -> None:
        await self._redis.publish(self.channel, key_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


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
