"""Group metric events into batches by size and age, and tell each caller when its batch
has committed.

The metrics handler calls `add` once per delivery and acks only when `add` returns, so a
message is acked after its row is committed and never before. With prefetch >= batch size
a batch fills from one consumer; a batch also goes out `max_age_s` after its first event,
so a quiet queue still lands rows within about a second.

While the database is down the batch is retried with exponential backoff and its deliveries
stay unacked: RabbitMQ keeps the rest of the queue, nothing is lost, and no message burns
its delivery limit on the outage. A batch the database refuses as data (a value out of
range) is retried one event at a time, so one bad event is dead-lettered alone.
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
        retry_max_s: float = 5.0, retry_base_s: float = 0.05,
    ) -> None:
        self._sink = sink
        self._max_size = max_size
        self._max_age_s = max_age_s
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._batch: list[MetricEvent] = []
        self._done: asyncio.Future[Rejected] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._closing = False

    async def add(self, event: MetricEvent) -> None:
        """Return once `event` is committed (or was already stored).

        Raises Permanent when the database refuses this event, Unavailable when the batcher
        shut down before the database came back (the message is then not acked).
        """
        if self._closing:
            raise Unavailable("metrics batcher is shutting down")
        loop = asyncio.get_running_loop()
        if self._done is None:
            self._done = loop.create_future()
            self._timer = loop.call_later(self._max_age_s, self.flush)
        done = self._done
        self._batch.append(event)
        if len(self._batch) >= self._max_size:
            self.flush()
        # shield: one cancelled waiter (a handler torn down) must not cancel the batch.
        rejected = await asyncio.shield(done)
        if event.job_id in rejected:
            raise Permanent(f"metric row refused for {event.job_id}", code="metric_rejected")

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
