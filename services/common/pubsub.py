"""A Redis pub/sub subscription that survives connection loss.

`on_message("*")` is called on every (re)subscription and on every loss: whatever was
published while unsubscribed is lost, so a listener holding a cache must drop all of it.
`live` is True only while subscribed. Used by key revocation (services/auth) and the
config cache's invalidations (services/config/redis_cache.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RECONNECT_DELAYS_S = (0.1, 0.5, 1.0, 2.0, 5.0)
RESET = "*"


class Subscription:
    def __init__(self, redis: Redis, channel: str, on_message: Callable[[str], None]) -> None:
        self._redis = redis
        self.channel = channel
        self._on_message = on_message
        self.live = False
        self._task: asyncio.Task[None] | None = None

    async def start(self, wait_s: float = 2.0) -> None:
        """Subscribe; returns once subscribed or after `wait_s` (Redis down must not stop
        the process: the loop keeps retrying)."""
        subscribed = asyncio.Event()
        self._task = asyncio.create_task(self._listen(subscribed), name=f"subscription:{self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscribed.wait(), wait_s)

    async def _listen(self, subscribed: asyncio.Event) -> None:
        attempt = 0
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._on_message(RESET)
                self.live, attempt = True, 0
                subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        self._on_message(data.decode() if isinstance(data, bytes) else str(data))
            except (RedisError, OSError):
                self.live = False
                self._on_message(RESET)
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                attempt += 1
                log.warning("pub/sub channel lost, resubscribing", extra={"channel": self.channel, "delay_s": delay})
                await asyncio.sleep(delay)
            finally:
                self.live = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
