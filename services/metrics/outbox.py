"""Coalesce the metric events of concurrent job completions into one message.

Consuming costs ~0.5 ms of Python per AMQP message whatever its size (bench/RESULTS.md), so
one message per event capped the metrics pool near 1,800 rows/s. The outbox sends one
`MetricBatch` (v2) per `max_events` events, or `max_age_s` after a batch's first event.

`add` returns only once the broker has confirmed the message carrying its event, and a
failed publish raises to every caller of that batch: the job listener returns after its
event is safely in RabbitMQ, so the job message is acked after that and a process that dies
loses nothing (the job is redelivered and its event sent again; the sink is idempotent).

Batches size themselves to the load: with no publish in flight a batch goes out at the end
of the current event-loop tick (an inline request waits one broker round trip, ~1 ms, not
`max_age_s`); while one is in flight, events gather and go out when its confirm returns, so
at 20,000 events/s each message carries dozens to hundreds of events. `max_age_s` only
bounds the wait if a confirm is slow.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid

from services.broker.base import Broker, OutgoingMessage
from services.broker.queues import Queue
from services.errors import Unavailable
from services.metrics.schemas import MetricBatch, MetricEvent

log = logging.getLogger(__name__)


class MetricsOutbox:
    """Size- and age-bounded batching in front of `broker.publish` for metric events."""

    def __init__(self, broker: Broker, *, max_events: int = 500, max_age_s: float = 0.05) -> None:
        self._broker = broker
        self._max_events = max_events
        self._max_age_s = max_age_s
        self._batch: list[MetricEvent] = []
        # One future per `add` caller of the current batch, settled with its publish.
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._tick_flush = False
        self._closed = False

    async def add(self, event: MetricEvent) -> None:
        """Return once the message carrying `event` is confirmed; raise Unavailable if not."""
        loop = asyncio.get_running_loop()
        if not self._batch:
            self._timer = loop.call_later(self._max_age_s, self.flush)
        # A future of its own, so a cancelled caller (a job torn down) cancels only its own
        # wait, not the batch's publish. Not asyncio.shield on one shared future: that costs
        # an extra future and two callbacks a caller, 9.4 -> 4.4 us a waiter (uvloop, 5,000).
        sent: asyncio.Future[None] = loop.create_future()
        self._waiters.append(sent)
        self._batch.append(event)
        # After close nothing would flush a partial batch: every event goes out on its own.
        if len(self._batch) >= self._max_events or self._closed:
            self.flush()
        elif not self._publishing and not self._tick_flush:
            self._tick_flush = True
            loop.call_soon(self._flush_if_idle)
        await sent

    def _flush_if_idle(self) -> None:
        self._tick_flush = False
        if not self._publishing:
            self.flush()

    def _published(self, task: asyncio.Task[None]) -> None:
        self._publishing.discard(task)
        if self._batch and not self._publishing:
            self.flush()  # what gathered while the previous message was in flight

    def flush(self) -> None:
        """Publish the current batch now (called on size, idle, age and close)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._batch:
            return
        batch, waiters = self._batch, self._waiters
        self._batch, self._waiters = [], []
        # A fresh context: the message carries many jobs' events, so it must not inherit the
        # trace (or the log job_id) of whichever job happened to trigger the flush.
        task = asyncio.get_running_loop().create_task(self._publish(batch, waiters), context=contextvars.Context())
        self._publishing.add(task)
        task.add_done_callback(self._published)

    async def _publish(self, batch: list[MetricEvent], waiters: list[asyncio.Future[None]]) -> None:
        message = OutgoingMessage(MetricBatch(events=batch).encode(), message_id=f"mb_{uuid.uuid4().hex}",
                                  headers={"events": len(batch)})
        try:
            await self._broker.publish(Queue.METRICS, message)
        except asyncio.CancelledError:
            _settle(waiters, Unavailable("metric batch abandoned at shutdown"))
            raise
        except Exception as exc:
            log.warning("metric batch not published", extra={"events": len(batch), "error": repr(exc)})
            _settle(waiters, exc)
            return
        _settle(waiters, None)

    async def close(self) -> None:
        """Publish what is pending and wait for its confirms (each bounded by the broker's
        publish timeout); later events are published one message each."""
        self._closed = True
        self.flush()
        await asyncio.gather(*self._publishing, return_exceptions=True)


def _settle(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue  # its caller was cancelled
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
