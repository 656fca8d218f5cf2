"""Turn order per thread: turns of one thread run one after another in submission order,
across worker processes and redeliveries; different threads run in parallel.

Why this mechanism: a worker must never block a slot waiting for another thread's turn
(prefetch is 200 per channel, and a blocked slot holds a message for as long as a provider
answers, 1-60 s), and a crashed worker must not wedge a thread. So:

- `assign` hands out a per-thread sequence number at submit (Redis INCR, Lua-seeded from
  the thread's `last_turn` if the counter was lost), so the order is the submit order.
- A per-thread cursor says which turn runs next. `acquire(turn)` grants it only when
  `turn == cursor` and no live lease is held by another job; a later turn gets WAIT and the
  executor raises `NotYourTurn`, which requeues the message with a short delay instead of
  holding the slot. A turn below the cursor gets DONE (a redelivery of a finished turn).
- The lease (holder = job id) expires after `lease_s` unless renewed while the model runs,
  so a dead worker's turn can be taken over by its redelivered message at once (same job)
  or after the lease (any other process).
- `finish` moves the cursor past the turn (in any order: a turn finished early, e.g. a
  cancelled queued job, is remembered and skipped when the cursor reaches it).
- A turn whose job vanished (dead-lettered, expired) would stop the thread forever: when
  the cursor's turn has had no lease and no progress for `stall_s`, a later turn skips it.

Adapters: `redis_order_store.RedisTurnOrder` (Lua, atomic across processes) and
`memory_order_store.MemoryTurnOrder`; tests/services/threads/test_order_contract.py runs
one suite against both, the Redis one on a real server.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from services.errors import Deferred


class Grant(StrEnum):
    GRANTED = "granted"  # run it now; the caller holds the lease
    WAIT = "wait"  # an earlier turn is unfinished, or another process holds this one
    DONE = "done"  # already finished (or skipped as stalled): nothing to run


@dataclass(frozen=True, slots=True)
class Acquired:
    grant: Grant
    # The turn that runs next (after a GRANTED: the caller's turn).
    cursor: int


class NotYourTurn(Deferred):
    """An earlier turn of the thread is unfinished: the lifecycle puts the job back in the
    queue for `retry_after_s` without counting an attempt (an inline run waits in place);
    the job's deadline still bounds the wait."""

    code = "turn_pending"

    def __init__(self, message: str, *, retry_after_s: float, **kw: Any) -> None:
        super().__init__(message, reason="thread_order", retry_after_s=retry_after_s, **kw)


class TurnOrder(Protocol):
    """Per-thread turn numbers, cursor and lease (see the module docstring)."""

    async def assign(self, thread_id: str, *, floor: int = 0) -> int:
        """The thread's next turn number (1, 2, ...), never at or below `floor`."""

    async def acquire(self, thread_id: str, turn: int, holder: str) -> Acquired:
        """Try to start `turn` as `holder` (the job id)."""

    async def renew(self, thread_id: str, holder: str) -> bool:
        """Extend the lease; False when `holder` no longer holds it."""

    async def pause(self, thread_id: str, holder: str) -> bool:
        """Drop the lease but keep the cursor: the turn will be retried and still runs
        before any later one."""

    async def finish(self, thread_id: str, turn: int) -> int:
        """Mark `turn` finished (succeeded, failed for good or cancelled); returns the cursor."""

    async def forget(self, thread_id: str) -> None:
        """Drop every counter of a deleted thread."""

    async def close(self) -> None: ...
