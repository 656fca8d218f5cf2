"""Job event logs as Redis streams: `<prefix>stream:<job_id>`, XADD MAXLEN ~N + EXPIRE.

A blocking XREAD holds one pooled connection for up to `block_s`; the SSE relay blocks for
at most one heartbeat interval (15 s), so each open SSE connection pins one connection of
the pool (redis.max_connections, 200 by default) while it waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from services.jobs.stream_store import StreamEntry

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RedisStreamStore:
    def __init__(self, redis: Redis, *, prefix: str, maxlen: int, ttl_s: int) -> None:
        self._redis = redis
        self._prefix = prefix + "stream:"
        self._maxlen = maxlen
        self._ttl_s = ttl_s

    async def append(self, job_id: str, event: str, data: dict[str, Any]) -> str:
        key = self._prefix + job_id
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": event, "d": orjson.dumps(data)}, maxlen=self._maxlen,
                      approximate=True)
            pipe.expire(key, self._ttl_s)
            entry_id, _ = await pipe.execute()
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read(
        self, job_id: str, after: str | None, *, block_s: float = 0, count: int = 500
    ) -> list[StreamEntry]:
        block = int(block_s * 1000) if block_s > 0 else None
        reply = await self._redis.xread(
            {self._prefix + job_id: after or "0-0"}, count=count, block=block
        )
        out: list[StreamEntry] = []
        for _key, entries in reply or []:
            for entry_id, fields in entries:
                out.append(StreamEntry(
                    entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id),
                    fields[b"e"].decode(), orjson.loads(fields[b"d"]),
                ))
        return out
