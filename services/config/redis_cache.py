"""Redis level of the config cache: values with TTL, generation counters, and the pub/sub
channel that carries invalidations to every process."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.common.pubsub import Subscription
from services.errors import Unavailable

log = logging.getLogger(__name__)

# KEYS: generation key, value key. ARGV: expected generation, value, ttl in ms.
SET_IF_GENERATION = """
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return 0
"""
START_WAIT_S = 5.0
GENERATION_TTL_S = 24 * 3600


class RedisSharedCache:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._r = redis
        self._prefix = f"{prefix}cfg:"
        self.channel = f"{prefix}cfg:invalidate"
        self._set = redis.register_script(SET_IF_GENERATION)
        self._subscription: Subscription | None = None

    def _value_key(self, key: str) -> str:
        return f"{self._prefix}v:{key}"

    def _gen_key(self, key: str) -> str:
        return f"{self._prefix}g:{key}"

    async def get(self, key: str) -> bytes | None:
        try:
            raw: bytes | None = await self._r.get(self._value_key(key))
            return raw
        except RedisError:
            # The store stays the source of truth: a Redis outage costs latency, not runs.
            log.warning("config cache: redis unreachable on read", exc_info=True)
            return None

    async def generation(self, key: str) -> str:
        try:
            raw = await self._r.get(self._gen_key(key))
        except RedisError:
            return "unavailable"
        return raw.decode() if raw else "0"

    async def set_if_generation(
        self, key: str, value: bytes, generation: str, ttl_s: float
    ) -> None:
        with contextlib.suppress(RedisError):
            await self._set(
                keys=[self._gen_key(key), self._value_key(key)],
                args=[generation, value, int(ttl_s * 1000)],
            )

    async def invalidate(self, key: str) -> None:
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.incr(self._gen_key(key))
                # A generation only has to outlive loads in flight and values already
                # cached (shared TTL, 300 s by default): a day is ample.
                pipe.expire(self._gen_key(key), GENERATION_TTL_S)
                pipe.delete(self._value_key(key))
                pipe.publish(self.channel, key)
                await pipe.execute()
        except RedisError as exc:
            raise Unavailable(
                "saved, but other processes could not be told: retry the request",
                code="cache_invalidation_failed",
            ) from exc

    async def start(self, on_invalidate: Callable[[str], None]) -> None:
        # Redis down at start-up must not stop the process: the subscription keeps retrying
        # and level 1 stays off (`live` False) until it is subscribed. On every
        # (re)subscription and loss it calls `on_invalidate("*")`: anything published
        # meanwhile was lost, so level 1 starts clean.
        self._subscription = Subscription(self._r, self.channel, on_invalidate)
        await self._subscription.start(START_WAIT_S)

    @property
    def live(self) -> bool:
        """False while the channel is down: level-1 copies may then miss invalidations."""
        return self._subscription is not None and self._subscription.live

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
