"""Group metric events into batches by size and age, and tell each caller when its batch
has committed.

The metrics handler calls `add_many` with the events of one delivery and acks only when it
returns, so a message is acked after its rows are committed and never before. A message's
events may span two batches; it waits for both. A batch goes out at `max_size` events,
`max_age_s` after its first event (a quiet queue still lands rows within about a second),
or once `max_waiting` deliveries wait: that is the pool's prefetch, so no more can arrive
before a commit and waiting longer only stalls (one-event v1 messages would otherwise
trickle in at prefetch / max_age_s, 20 rows/s).

While the database is down the batch is retried with exponential backoff and its deliveries
stay unacked: RabbitMQ keeps the rest of the queue, nothing is lost, and no message burns
its delivery limit on the outage. A batch the database refuses as data (a value out of
range) is retried one event at a time, so only the message holding the bad event is
dead-lettered (its other rows stay committed; a replay skips them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from services.errors import Permanent, Unavailable
from services.metrics.schemas import MetricEvent
from services.metrics.sink import MetricsSink, SinkRejected, SinkUnavailable

log = logging.getLogger(__name__)

# Job ids the database refused, per batch; empty when every row committed.
Rejected = frozenset[str]


class Batcher:
    """Size- and age-bounded batching in front of a MetricsSink."""

    def __init__(
        self, sink: MetricsSink, *, max_size: int, max_age_s: float,
        retry_max_s: float = 5.0, retry_base_s: float = 0.05, max_waiting: int | None = None,
    ) -> None:
        self._sink = sink
        self._max_size = max_size
        self._max_age_s = max_age_s
        self._max_waiting = max_waiting
        self._waiting = 0
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._batch: list[MetricEvent] = []
        self._done: asyncio.Future[Rejected] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._closing = False

    async def add(self, event: MetricEvent) -> None:
        """`add_many` for one event."""
        await self.add_many([event])

    async def add_many(self, events: Sequence[MetricEvent]) -> None:
        """Return once every one of `events` is committed (or was already stored).

        Raises Permanent when the database refuses any of them (the others stay committed),
        Unavailable when the batcher shut down before the database came back (the message
        is then not acked).
        """
        if self._closing:
            raise Unavailable("metrics batcher is shutting down")
        loop = asyncio.get_running_loop()
        batches: list[asyncio.Future[Rejected]] = []
        rest = list(events)
        while rest:
            if self._done is None:
                self._done = loop.create_future()
                self._timer = loop.call_later(self._max_age_s, self.flush)
            batches.append(self._done)
            room = self._max_size - len(self._batch)
            self._batch.extend(rest[:room])
            rest = rest[room:]
            if len(self._batch) >= self._max_size:
                self.flush()
        self._waiting += 1
        try:
            if self._max_waiting is not None and self._waiting >= self._max_waiting:
                self.flush()
            # shield: one cancelled waiter (a handler torn down) must not cancel the batches.
            outcomes = await asyncio.shield(asyncio.gather(*batches, return_exceptions=True))
        finally:
            self._waiting -= 1
        rejected: set[str] = set()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            rejected |= outcome
        refused = [e.job_id for e in events if e.job_id in rejected]
        if refused:
            raise Permanent(f"metric rows refused for {len(refused)} of {len(events)} events",
                            code="metric_rejected", job_ids=refused[:20])

    def flush(self) -> None:
        """Send the current batch now (called on size, age and shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._done is None:
            return
        batch, done = self._batch, self._done
        self._batch, self._done = [], None
        task = asyncio.get_running_loop().create_task(self._write(batch, done))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _write(self, batch: list[MetricEvent], done: asyncio.Future[Rejected]) -> None:
        delay = self._retry_base_s
        try:
            while True:
                try:
                    await self._sink.write(batch)
                    done.set_result(frozenset())
                    return
                except SinkRejected as exc:
                    log.warning("metric batch refused, writing one by one: %s", exc)
                    done.set_result(await self._write_singly(batch))
                    return
                except SinkUnavailable as exc:
                    log.warning(
                        "metrics database unavailable, holding %d events; retry in %.2fs: %s",
                        len(batch), delay, exc,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
        except asyncio.CancelledError:
            if not done.done():
                done.set_exception(Unavailable("metrics batch abandoned at shutdown"))
            raise
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)

    async def _write_singly(self, batch: Sequence[MetricEvent]) -> Rejected:
        rejected = set()
        for event in batch:
            try:
                await self._sink.write([event])
            except SinkRejected as exc:
                log.error("metric row refused", extra={"job_id": event.job_id, "error": str(exc)})
                rejected.add(event.job_id)
        return frozenset(rejected)

    async def close(self, grace_s: float = 10.0) -> None:
        """Flush what is pending and wait up to `grace_s` for it; abandon the rest unacked."""
        self._closing = True
        self.flush()
        if self._flushes:
            _, pending = await asyncio.wait(set(self._flushes), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
