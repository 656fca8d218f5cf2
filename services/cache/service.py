"""The response cache: in-process LRU -> shared store -> compute, with single-flight misses.

`get_or_compute(key, compute)` returns `(answer, "hit" | "miss")`. Concurrent callers with
the same key share ONE computation:
- in one process, the first caller (the leader) computes and the others await its future;
- across processes, the leader takes a short lock in the shared store (lock_ttl_s, renewed
  while it computes); other processes poll the lock (5 ms doubling to wait_poll_max_s) until
  it goes, then read the answer, or, when the leader failed or died without one, compete to
  lead.

Callers that shared someone else's computation count as hits. Errors are never stored: a
failed leader's error goes to the callers waiting on it in the same process (they asked the
same question at the same moment), while the next caller computes afresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from config import CacheSettings
from services.cache.lru import LruCache
from services.cache.remote import Lookup, RemoteCache
from services.observability import tracing

Compute = Callable[[], Awaitable[dict[str, Any]]]
HIT, MISS, BYPASS = "hit", "miss", "bypass"


class ResponseCache:
    def __init__(self, settings: CacheSettings, remote: RemoteCache | None) -> None:
        self.settings = settings
        self.lru = LruCache(settings.lru_entries, settings.lru_max_entry_bytes)
        self.remote = remote
        self._inflight: dict[str, asyncio.Future[bytes]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        """A stored answer, without computing or waiting for one."""
        raw = await self._lookup(key)
        return orjson.loads(raw) if raw is not None else None

    async def put(self, key: str, answer: dict[str, Any]) -> None:
        await self.put_raw(key, orjson.dumps(answer))

    async def _lookup(self, key: str) -> bytes | None:
        raw = self.lru.get(key)
        if raw is not None or self.remote is None:
            return raw
        return self._keep(key, await self.remote.get(key))

    def _keep(self, key: str, found: Lookup) -> bytes | None:
        """Copy a remote hit into the LRU for the rest of its lifetime."""
        if found.value is not None:
            self.lru.set(key, found.value, min(found.ttl_s, self.settings.ttl_s))
        return found.value

    async def get_or_compute(self, key: str, compute: Compute) -> tuple[dict[str, Any], str]:
        """The stored answer (a hit) or `compute()`'s, stored (a miss); traced as one span
        whose children are the provider calls a miss made."""
        with tracing.span("cache lookup") as current:
            answer, status = await self._get_or_compute(key, compute)
            tracing.set_attributes(current, {"cache.result": status})
            return answer, status

    async def _get_or_compute(self, key: str, compute: Compute) -> tuple[dict[str, Any], str]:
        raw = self.lru.get(key)
        if raw is not None:
            return orjson.loads(raw), HIT
        while (pending := self._inflight.get(key)) is not None:
            try:
                raw = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                # The leader was cancelled (its client went away), not us: lead instead.
                if pending.cancelled() and task is not None and not task.cancelling():
                    continue
                raise
            return orjson.loads(raw), HIT
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            answer, status, raw = await self._lead(key, compute)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            # Nobody may be waiting: mark the exception retrieved so asyncio does not warn.
            future.exception()
            raise
        else:
            future.set_result(raw)
        finally:
            del self._inflight[key]
        return answer, status

    async def _lead(self, key: str, compute: Compute) -> tuple[dict[str, Any], str, bytes]:
        if self.remote is None:
            answer = await compute()
            raw = orjson.dumps(answer)
            self.lru.set(key, raw, self.settings.ttl_s)
            return answer, MISS, raw
        found = await self.remote.get_or_lock(key, self.settings.lock_ttl_s)
        if (hit := self._keep(key, found)) is not None:
            return orjson.loads(hit), HIT, hit
        token = found.token
        if token is None:
            hit, token = await self._wait_for_other_process(key)
            if hit is not None:
                return orjson.loads(hit), HIT, hit
        renewal = (asyncio.get_running_loop().create_task(self._keep_lock(key, token))
                   if token is not None else None)
        try:
            answer = await compute()
        except BaseException:
            if token is not None:
                await self.remote.unlock(key, token)
            raise
        finally:
            if renewal is not None:
                renewal.cancel()
        raw = orjson.dumps(answer)
        self.lru.set(key, raw, self.settings.ttl_s)
        await self.remote.set(key, raw, self.settings.ttl_s, unlock=token)
        return answer, MISS, raw

    async def put_raw(self, key: str, raw: bytes) -> None:
        self.lru.set(key, raw, self.settings.ttl_s)
        if self.remote is not None:
            await self.remote.set(key, raw, self.settings.ttl_s)

    async def _keep_lock(self, key: str, token: str) -> None:
        """Renew the compute lock while the answer is being computed (a long generation
        outlives lock_ttl_s; a crashed process stops renewing and its lock expires)."""
        assert self.remote is not None
        while True:
            await asyncio.sleep(self.settings.lock_ttl_s / 3)
            if not await self.remote.extend(key, token, self.settings.lock_ttl_s):
                return

    async def _wait_for_other_process(self, key: str) -> tuple[bytes | None, str | None]:
        """Poll until another process's answer lands (-> it) or its lock goes (-> our lock).

        A live leader renews its lock, a crashed one's lock expires within lock_ttl_s; after
        lock_wait_max_s we compute without the lock rather than wait on.
        """
        assert self.remote is not None
        give_up = time.monotonic() + self.settings.lock_wait_max_s
        delay = 0.005
        while time.monotonic() < give_up:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.wait_poll_max_s)
            if await self.remote.locked(key):
                continue
            found = await self.remote.get_or_lock(key, self.settings.lock_ttl_s)
            if found.value is not None or found.token is not None:
                return self._keep(key, found), found.token
        return None, None
