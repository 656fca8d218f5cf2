"""Redis level of the config cache: values with TTL, generation counters, and the pub/sub
channel that carries invalidations to every process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.errors import Unavailable

log = logging.getLogger(__name__)

# KEYS: generation key, value key. ARGV: expected generation, value, ttl in ms.
SET_IF_GENERATION = """
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return 0
"""
# Waits between reconnect attempts of the listener: short first, at most 5 s.
RECONNECT_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)
START_WAIT_S = 5.0
GENERATION_TTL_S = 24 * 3600


class RedisSharedCache:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._r = redis
        self._prefix = f"{prefix}cfg:"
        self.channel = f"{prefix}cfg:invalidate"
        self._set = redis.register_script(SET_IF_GENERATION)
        self._task: asyncio.Task[None] | None = None
        # False while the channel is down: level-1 copies may then miss invalidations.
        self.live = False

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
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(on_invalidate, subscribed))
        # Redis down at start-up must not stop the process: the listener keeps retrying and
        # level 1 stays off until it is subscribed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), START_WAIT_S)

    async def _listen(
        self, on_invalidate: Callable[[str], None], subscribed: asyncio.Event
    ) -> None:
        attempt = 0
        while True:
            pubsub = self._r.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                # Anything published while we were not subscribed is lost: start clean.
                on_invalidate("*")
                self.live = True
                subscribed.set()
                attempt = 0
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        on_invalidate(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError):
                self.live = False
                on_invalidate("*")
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                attempt += 1
                log.warning("config cache: invalidation channel lost, resubscribing in %ss", delay)
                await asyncio.sleep(delay)
            finally:
                self.live = False
                with contextlib.suppress(RedisError, OSError):
                    # types-redis predates redis-py 5's aclose().
                    await pubsub.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
