"""A `jobs.*` queue's handler: decode the message, hand its jobs to the job lifecycle.

At-least-once delivery meets compare-and-set in the lifecycle: a redelivered message for a
finished job is acked and skipped, and a job cancelled while running stays cancelled.

A message carries one job or a pack of them (a dispatch round's: services/jobs/messages.py).
Every job runs in one of the process's `jobs.concurrency` slots. Prefetch counts messages,
so a channel's 200 deliveries could be 6,400 jobs: a pack takes only the slots free when it
arrives, and its other jobs go back to the queue at once, each alone. So no job waits in a
worker longer than one running job takes to finish, far inside RabbitMQ's consumer timeout
(30 min), whatever the backlog.

The runner maps a message's outcome to the broker (workers/runner.py); a pack maps its
jobs' here, because one job's retry must not run its pack-mates again:
- every job finished or was skipped     -> the pack is acked
- a job raised Retryable                -> that job alone goes back through its delay queue
- a job raised anything else            -> that job alone goes back at once, as a message of
                                           its own: from there a poison job meets the
                                           delivery limit by itself
and the pack is acked once those are published. A failed publish fails the pack: it is
redelivered, and its finished jobs are skipped.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from services.broker.base import Broker, Delivery, OutgoingMessage
from services.common.logging import job_id_var
from services.errors import Permanent, Retryable
from services.jobs.lifecycle import JobLifecycle
from services.jobs.messages import JobMessage, decode_jobs
from services.observability.prom import JOBS_IN_FLIGHT
from workers.runner import QueueHandler

log = logging.getLogger(__name__)


def _decode(delivery: Delivery) -> list[JobMessage]:
    try:
        messages = decode_jobs(delivery.body)
    except ValidationError as exc:
        raise Permanent("malformed job message", code="bad_message") from exc
    return messages


def handler(lifecycle: JobLifecycle, *, broker: Broker, queue: str, slots: int) -> QueueHandler:
    free = asyncio.Semaphore(slots)
    gauge = JOBS_IN_FLIGHT.labels(queue)

    async def run(message: JobMessage, redelivered: bool) -> None:
        """Run a job whose slot is taken; give the slot back after."""
        job_id_var.set(message.job_id)
        try:
            await lifecycle.run_message(message, redelivered=redelivered)
        finally:
            free.release()

    def alone(delivery: Delivery, message: JobMessage) -> OutgoingMessage:
        """A packed job's message of its own, in the trace its pack carried."""
        outgoing = message.outgoing()
        outgoing.headers.update({k: v for k, v in delivery.headers.items() if k not in outgoing.headers})
        return outgoing

    async def handle(delivery: Delivery) -> None:
        messages = _decode(delivery)
        if len(messages) == 1:
            # Prefetch bounds single messages to the slots: this waits for one job at most.
            await free.acquire()
            await run(messages[0], delivery.redelivered)
            return
        taken: list[JobMessage] = []
        for message in messages:
            if free.locked():
                break
            await free.acquire()  # not locked: it returns without yielding to another task
            taken.append(message)
        # The rest in one broker call, one wait for all their confirms.
        try:
            outcomes = await broker.publish_each(queue, [alone(delivery, m) for m in messages[len(taken):]])
            refused = next((o for o in outcomes if o is not None), None)
            if refused is not None:
                raise refused  # the runner sends the whole pack round again: none of it started here
        except BaseException:
            for _ in taken:
                free.release()
            raise
        if not taken:
            return
        # The runner counted the delivery as one job in flight.
        gauge.inc(len(taken) - 1)
        try:
            results = await asyncio.gather(*(run(m, delivery.redelivered) for m in taken), return_exceptions=True)
        finally:
            gauge.dec(len(taken) - 1)
        for message, outcome in zip(taken, results, strict=True):
            if outcome is None:
                continue
            if not isinstance(outcome, Exception):
                raise outcome  # a cancellation or an exit: the pack stays unacked
            if not isinstance(outcome, Retryable):
                log.error("packed job failed; it goes back alone", extra={"job_id": message.job_id},
                          exc_info=outcome)
            delay_s = (outcome.retry_after_s or 1.0) if isinstance(outcome, Retryable) else 0
            await broker.publish(queue, alone(delivery, message), delay_s=delay_s)

    return handle


def dead_handler(lifecycle: JobLifecycle) -> QueueHandler:
    """Messages that hit the delivery limit: fail their jobs so nobody waits forever."""

    async def handle_dead(delivery: Delivery) -> None:
        try:
            messages = _decode(delivery)
        except Permanent:
            return  # a malformed message in the dead-letter queue: nothing to fail
        for message in messages:
            job_id_var.set(message.job_id)
            await lifecycle.dead_letter(message.job_id)

    return handle_dead
