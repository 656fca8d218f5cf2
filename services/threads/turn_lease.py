"""Holding a thread's turn while it runs: the lease is renewed every third of its length,
and how the run ends decides what the turn order hears.

- success, or a failure no retry will fix -> `finish`: the next turn may run;
- `Retryable` (the job comes back later) or cancellation (a draining worker; the message is
  redelivered) -> `pause`: the lease is dropped but the turn keeps its place;
- the caller walking away from a stream (GeneratorExit) -> nothing: the lease runs out and
  the redelivered job takes the turn back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from services.errors import Retryable
from services.threads.order_store import TurnOrder

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def held_turn(order: TurnOrder, thread_id: str, turn: int, holder: str, *,
                    lease_s: float) -> AsyncIterator[None]:
    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            if not await order.renew(thread_id, holder):
                log.warning("turn lease lost", extra={"thread_id": thread_id, "turn": turn})
                return

    renewer = asyncio.get_running_loop().create_task(renew())
    try:
        yield
    except (Retryable, asyncio.CancelledError):
        await order.pause(thread_id, holder)
        raise
    except Exception:
        await order.finish(thread_id, turn)
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    await order.finish(thread_id, turn)
