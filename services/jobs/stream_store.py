"""Where a queued streaming job's chunks wait for SSE readers: one append-only log per job.

`RedisStreamStore` (redis_stream_store.py) keeps a Redis stream per job (XADD with an
approximate MAXLEN and an expiry), so an SSE reader on any API process can follow a job
running on any worker; `MemoryStreamStore` does the same in process for the embedded backend.
Entry ids are Redis stream ids (`<ms>-<seq>`), used as SSE ids, so `Last-Event-ID` resumes
right after the last entry a client saw.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

# Event names written to a job's log: `chunk` (a StreamChunk), `end` (the job reached a
# terminal status; written by the job-finished listener, carries no data).
CHUNK, END = "chunk", "end"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str
    event: str
    data: dict[str, Any]


class StreamStore(Protocol):
    """Per-job append-only event logs with blocking reads."""

    async def append(self, job_id: str, event: str, data: dict[str, Any]) -> str:
        """Add an entry; returns its id. Resets the log's expiry."""

    async def read(
        self, job_id: str, after: str | None, *, block_s: float = 0, count: int = 500
    ) -> list[StreamEntry]:
        """Entries after id `after` (all when None), waiting up to `block_s` for the first."""


def parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Log:
    entries: deque[StreamEntry]
    expires: float
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last: tuple[int, int] = (0, 0)


class MemoryStreamStore:
    def __init__(self, *, maxlen: int, ttl_s: float) -> None:
        self._maxlen = maxlen
        self._ttl_s = ttl_s
        self._logs: dict[str, _Log] = {}
        self._next_sweep = 0.0

    def _log(self, job_id: str) -> _Log:
        now = time.monotonic()
        if now >= self._next_sweep:
            # Expired logs are swept at most once a second, not on every append.
            self._next_sweep = now + 1.0
            for key in [k for k, v in self._logs.items() if v.expires < now]:
                del self._logs[key]
        log = self._logs.get(job_id)
        if log is None:
            log = self._logs[job_id] = _Log(deque(maxlen=self._maxlen), now + self._ttl_s)
        return log

    async def append(self, job_id: str, event: str, data: dict[str, Any]) -> str:
        log = self._log(job_id)
        ms = int(time.time() * 1000)
        last_ms, last_seq = log.last
        log.last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        entry = StreamEntry(f"{log.last[0]}-{log.last[1]}", event, data)
        log.entries.append(entry)
        log.expires = time.monotonic() + self._ttl_s
        log.changed.set()
        log.changed = asyncio.Event()
        return entry.id

    def _after(self, log: _Log, after: str | None, count: int) -> list[StreamEntry]:
        floor = parse_id(after) if after else (-1, -1)
        return [e for e in log.entries if parse_id(e.id) > floor][:count]

    async def read(
        self, job_id: str, after: str | None, *, block_s: float = 0, count: int = 500
    ) -> list[StreamEntry]:
        log = self._log(job_id)
        found = self._after(log, after, count)
        if found or block_s <= 0:
            return found
        try:
            await asyncio.wait_for(log.changed.wait(), block_s)
        except TimeoutError:
            return []
        return self._after(log, after, count)
