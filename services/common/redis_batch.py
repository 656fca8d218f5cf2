"""Coalesces concurrent Lua script calls into one Redis pipeline.

Under load, dozens of requests and job completions call the same scripts in the same
event-loop tick. Each call on its own pays redis-py's per-command cost (pool checkout,
retry wrapper, one socket write and read: ~150 us of CPU here); sent together in one
pipeline they share it. A call waits at most one loop tick for company, so an idle
process sees no added latency. Each script still runs atomically inside Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

# A pipeline of this many calls is sent at once even if more are waiting (bounds reply size).
MAX_BATCH = 256
Call = tuple[AsyncScript, Sequence[Any], Sequence[Any], asyncio.Future[Any]]


class ScriptBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[Call] = []
        self._scheduled = False
        self._sending: set[asyncio.Future[None]] = set()

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Call]) -> None:
        if len(batch) == 1:
            script, keys, args, future = batch[0]
            try:
                result = await script(keys=keys, args=args)
            except Exception as exc:
                _settle(future, exc=exc)
            else:
                _settle(future, result=result)
            return
        try:
            results = await self._pipeline(batch)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                # First use, or Redis restarted (SCRIPT FLUSH): load the scripts and send
                # again only the calls that did not run (the others must not run twice).
                retry = [batch[i] for i in missing]
                for script in {id(c[0]): c[0] for c in retry}.values():
                    await self._redis.script_load(script.script)
                for i, result in zip(missing, await self._pipeline(retry), strict=True):
                    results[i] = result
        except Exception as exc:
            results = [exc] * len(batch)
        for (_, _, _, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                _settle(future, exc=result)
            else:
                _settle(future, result=result)

    async def _pipeline(self, batch: list[Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for script, keys, args, _ in batch:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
