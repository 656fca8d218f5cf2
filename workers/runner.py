"""The worker runner: consume, run handlers with bounded concurrency, drain on SIGTERM.

Handler outcomes map to the broker in ONE place (`_dispatch`):
- returns          -> ack
- Retryable        -> republish to the queue through its delay queue, then ack
- Permanent        -> reject (dead-letter queue)
- anything else    -> requeue; RabbitMQ's x-delivery-limit dead-letters poison messages
(A message carrying a pack of jobs maps each job's outcome in its handler first:
workers/handlers/jobs.py.)

Each delivery runs in a consumer span continuing the trace its message carries
(services/observability/tracing.py), and settles into the worker's health (workers/health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.broker.base import Broker, Delivery, OutgoingMessage, Subscription
from services.common.logging import job_id_var
from services.errors import Permanent, Retryable
from services.observability import tracing
from services.observability.prom import JOBS_IN_FLIGHT
from workers.health import WorkerHealth

log = logging.getLogger(__name__)
# A queue's handler, bound at start-up to the domain objects it needs (workers/pools.py).
QueueHandler = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Consumer:
    queue: str
    handler: QueueHandler
    # In-flight messages for this consumer in one process.
    concurrency: int


class Runner:
    def __init__(self, broker: Broker, consumers: list[Consumer], *, prefetch: int,
                 drain_grace_s: float = 30.0, stuck_after_s: float = 1200.0) -> None:
        self.broker = broker
        self.prefetch = prefetch
        self.drain_grace_s = drain_grace_s
        self.consumers = consumers
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # A handler running past twice the job deadline is stuck (jobs.deadline_s * 2).
        self.health = WorkerHealth(stuck_after_s=stuck_after_s,
                                   in_flight=lambda: len(self._tasks))

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        broker = self.broker
        await broker.declare(sorted({c.queue for c in self.consumers if not c.queue.endswith(".dead")}))
        per_channel = self.prefetch
        for consumer in self.consumers:
            # Prefetch is per channel (RabbitMQ recommends 100-300): when the concurrency
            # wanted is higher, spread it over more channels, each with its own prefetch.
            channels = max(1, math.ceil(consumer.concurrency / per_channel))
            prefetch = math.ceil(consumer.concurrency / channels)
            for _ in range(channels):
                self._subscriptions.append(
                    await broker.consume(consumer.queue, self._wrap(consumer), prefetch=prefetch))
        self.health.consuming = True
        log.info("worker consuming", extra={"queues": [c.queue for c in self.consumers]})

    def _wrap(self, consumer: Consumer) -> Callable[[Delivery], Awaitable[None]]:
        gauge = JOBS_IN_FLIGHT.labels(consumer.queue)

        async def on_delivery(delivery: Delivery) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            gauge.inc()
            job_id_var.set(delivery.message_id)
            try:
                with tracing.span(f"process {consumer.queue}", kind="consumer", parent=delivery.headers,
                                  attributes={"messaging.destination.name": consumer.queue,
                                              "messaging.message.id": delivery.message_id}):
                    await self._dispatch(consumer, delivery)
            finally:
                gauge.dec()
                self._tasks.discard(task)
                self.health.settled()

        return on_delivery

    async def _dispatch(self, consumer: Consumer, delivery: Delivery) -> None:
        try:
            await consumer.handler(delivery)
        except asyncio.CancelledError:
            # Drain ran out of time: leave the message unacked so the broker redelivers it.
            raise
        except Retryable as exc:
            try:
                await self.broker.publish(
                    consumer.queue,
                    OutgoingMessage(delivery.body, delivery.message_id, dict(delivery.headers)),
                    delay_s=exc.retry_after_s or 1.0,
                )
            except Exception:
                log.exception("could not schedule retry; requeueing")
                await delivery.requeue()
                return
            await delivery.ack()
            return
        except Permanent as exc:
            log.error("message dead-lettered", extra={"code": exc.code, "error": exc.message})
            await delivery.reject()
            return
        except Exception:
            log.exception("handler failed; message requeued")
            await delivery.requeue()
            return
        await delivery.ack()

    async def stop(self) -> None:
        """Drain with the grace the runner was built with (jobs.drain_grace_s)."""
        await self.drain(self.drain_grace_s)

    async def drain(self, grace_s: float) -> None:
        """Stop taking messages, let in-flight ones finish for `grace_s`, cancel the rest.

        Cancelled handlers never ack, so their messages return to the queue when the
        connection closes and another worker picks them up.
        """
        self.health.consuming = False
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.cancel()
        self._subscriptions.clear()
        if self._tasks:
            log.info("draining", extra={"in_flight": len(self._tasks), "grace_s": grace_s})
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("drain grace ran out; unfinished jobs will be redelivered",
                            extra={"count": len(pending)})
                await asyncio.wait(pending, timeout=5)
