"""Start-up wiring for the metrics domain: the sink, the outbox, the batcher, and the job
listener that publishes one event per finished job.

`build_metrics` runs in the composition root for every process and opens no connection.
`Metrics.open` migrates and connects; the API (index.py) and the metrics pool call it at
start-up. It is best effort there: the sink also opens on first use, so a process started
during a database outage comes good on its own, and the API keeps serving jobs meanwhile.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from config import TimescaleSettings
from services.broker.base import Broker
from services.broker.queues import Queue
from services.jobs.model import Job
from services.metrics.batcher import Batcher
from services.metrics.outbox import MetricsOutbox
from services.metrics.publisher import event_from_job, observe
from services.metrics.sink import MetricsSink

log = logging.getLogger(__name__)
# Messages in flight even when a DB batch is smaller than one envelope: one being decoded
# while others wait on their commit.
MIN_PREFETCH = 4


def pool_prefetch(settings: TimescaleSettings) -> int:
    """Messages the metrics pool holds: about two DB batches of events (one filling while
    the previous commits) when producers send full envelopes; 5,000 / 500 gives 20."""
    return max(MIN_PREFETCH, math.ceil(2 * settings.batch_size / settings.outbox_max_events))


def create_sink(settings: TimescaleSettings, *, role: str = "all") -> MetricsSink:
    """PostgreSQL when a URL is configured, the in-process list otherwise (not connected)."""
    if settings.url:
        from services.metrics.postgres_sink import PostgresMetricsSink

        return PostgresMetricsSink(settings, role=role)
    from services.metrics.memory_sink import MemoryMetricsSink

    return MemoryMetricsSink()


@dataclass
class Metrics:
    settings: TimescaleSettings
    sink: MetricsSink
    # Producer side: coalesces the events of concurrent job completions into one message.
    outbox: MetricsOutbox
    # Consumer side (the metrics pool): rows into the sink in batches.
    batcher: Batcher

    async def publish(self, job: Job) -> None:
        """The job listener: return once the job's metric event is confirmed by the broker
        (sent in one message with other jobs' events through the outbox)."""
        event = event_from_job(job)
        observe(event)
        await self.outbox.add(event)

    async def open(self) -> None:
        """Migrate and connect the sink now; on failure log and leave it to open on first use."""
        try:
            await self.sink.open()
        except Exception as exc:
            log.warning("metrics database not ready at start-up; will retry on use",
                        extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self) -> None:
        await self.outbox.close()
        await self.batcher.close()
        await self.sink.close()


async def build_metrics(settings: TimescaleSettings, broker: Broker, *, role: str) -> Metrics:
    """Declares the metrics queue: publishes are `mandatory`, so an API process that finishes
    a job inline before any metrics worker has started must still find the queue."""
    await broker.declare([Queue.METRICS.value])
    sink = create_sink(settings, role=role)
    return Metrics(
        settings=settings, sink=sink,
        outbox=MetricsOutbox(broker, max_events=settings.outbox_max_events,
                             max_age_s=settings.outbox_max_age_s),
        batcher=Batcher(sink, max_size=settings.batch_size, max_age_s=settings.batch_max_age_s,
                        retry_max_s=settings.flush_retry_max_s, max_waiting=pool_prefetch(settings)),
    )
