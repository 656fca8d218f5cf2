"""Sample queue depths into the QUEUE_DEPTH gauge on a timer.

Depth is a broker round trip per queue (a passive declare on RabbitMQ), so it is sampled
every few seconds rather than read at scrape time: a scrape stays cheap, and a broker
hiccup costs one missed sample instead of a failed scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from services.broker.base import Broker
from services.broker.queues import Queue, dead_letter_queue
from services.observability.prom import QUEUE_DEPTH

log = logging.getLogger(__name__)


async def sample_queue_depths(broker: Broker, queues: Sequence[str]) -> None:
    """One sample of every queue; a queue that cannot be read keeps its last value."""
    for queue in queues:
        try:
            QUEUE_DEPTH.labels(queue).set(await broker.depth(queue))
        except Exception as exc:
            log.debug("queue depth unavailable", extra={"queue": queue, "error": str(exc)})


def start_depth_sampler(
    broker: Broker, queues: Sequence[str], interval_s: float,
) -> Callable[[], Awaitable[None]]:
    """Sample every `interval_s` in a background task; returns the coroutine that stops it."""

    async def loop() -> None:
        while True:
            await sample_queue_depths(broker, queues)
            await asyncio.sleep(interval_s)

    task = asyncio.get_running_loop().create_task(loop(), name="queue-depth-sampler")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop


async def start_queue_sampler(broker: Broker, interval_s: float) -> Callable[[], Awaitable[None]]:
    """API start-up: sample every queue and its dead-letter queue; returns the stopper.

    The queues are declared first: a passive declare of a missing queue closes the
    channel it ran on, which is the publishing channel, so sampling must never hit one.
    """
    queues = [q.value for q in Queue]
    try:
        await broker.declare(queues)
    except Exception as exc:
        log.warning("could not declare queues for depth sampling", extra={"error": str(exc)})
        queues = []
    watched = [name for q in queues for name in (q, dead_letter_queue(q))]
    return start_depth_sampler(broker, watched, interval_s)
