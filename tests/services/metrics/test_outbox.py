"""The outbox: concurrent events go out as few messages, and each caller returns only once
the broker confirmed the message carrying its event (or raises when it failed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from services.broker.base import Broker, OutgoingMessage
from services.broker.memory import MemoryBroker
from services.broker.queues import Queue
from services.errors import Unavailable
from services.metrics.outbox import MetricsOutbox
from services.metrics.schemas import decode_events
from tests.backends import context, make_settings
from tests.services.metrics.conftest import event, eventually
from tests.services.metrics.tcp_proxy import TcpProxy, via


class Recording:
    """A broker that records the job ids of each message once its publish is confirmed,
    and can hold publishes at a gate."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.confirmed: set[str] = set()
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish(self, queue: str, message: OutgoingMessage, *, delay_s: float = 0) -> None:
        await self.gate.wait()
        await self.inner.publish(queue, message, delay_s=delay_s)
        self.confirmed |= {e.job_id for e in decode_events(message.body)}


def outbox(broker: Any, **kw: Any) -> MetricsOutbox:
    return MetricsOutbox(cast(Broker, broker), **kw)


async def drain(broker: Broker, expected: int) -> list[list[str]]:
    """The job ids of each of the `expected` messages in the metrics queue, acked."""
    got: list[list[str]] = []

    async def collect(delivery: Any) -> None:
        got.append([e.job_id for e in decode_events(delivery.body)])
        await delivery.ack()

    sub = await broker.consume(Queue.METRICS.value, collect, prefetch=100)

    async def all_read() -> bool:
        return len(got) >= expected

    await eventually(all_read)
    await sub.cancel()
    return got


@pytest.mark.rabbit
async def test_concurrent_events_go_out_as_few_messages_each_after_its_confirm(
    unique: str, tmp_path: Path,
) -> None:
    async with context(make_settings("real", unique, tmp_path)) as ctx:
        broker = Recording(ctx.broker)
        box = outbox(broker, max_events=10, max_age_s=0.05)
        early: list[str] = []

        async def job_listener(job_id: str) -> None:
            await box.add(event(job_id))
            if job_id not in broker.confirmed:
                early.append(job_id)

        ids = [f"job_{i:03d}" for i in range(45)]
        await asyncio.gather(*(job_listener(i) for i in ids))
        assert early == []
        # 4 full envelopes by size, the last 5 events by age: 5 messages for 45 jobs.
        assert await ctx.broker.depth(Queue.METRICS.value) == 5
        got = await drain(ctx.broker, 5)
    assert sorted(len(m) for m in got) == [5, 10, 10, 10, 10]
    assert sorted(i for m in got for i in m) == ids


@pytest.mark.rabbit
async def test_a_failed_publish_raises_to_every_waiter_of_the_batch(
    unique: str, tmp_path: Path, rabbit_url: str,
) -> None:
    target = urlsplit(rabbit_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    port = await proxy.start()
    settings = make_settings("real", unique, tmp_path, rabbit={"url": via(rabbit_url, port)})
    try:
        async with context(settings) as ctx:
            box = outbox(ctx.broker, max_events=100, max_age_s=3600)
            adds = [asyncio.create_task(box.add(event(f"lost_{i}"))) for i in range(3)]
            await asyncio.sleep(0)  # each add joins the batch
            proxy.cut()  # the broker connection drops under the outbox
            box.flush()
            results = await asyncio.wait_for(asyncio.gather(*adds, return_exceptions=True), 30)
            assert [type(r) for r in results] == [Unavailable] * 3

            # The next batch is a new one: once the broker is back it goes through.
            proxy.restore()
            assert await ctx.broker.wait_ready(30)  # type: ignore[attr-defined]
            after = asyncio.create_task(box.add(event("after")))
            await asyncio.sleep(0)
            box.flush()
            await asyncio.wait_for(after, 30)
            assert await drain(ctx.broker, 1) == [["after"]]
            assert await ctx.broker.depth(Queue.METRICS.value) == 0
    finally:
        await proxy.close()


async def test_a_cancelled_caller_does_not_cancel_the_batch() -> None:
    memory = MemoryBroker()
    broker = Recording(memory)
    broker.gate.clear()
    box = outbox(broker, max_events=3, max_age_s=3600)
    adds = [asyncio.create_task(box.add(event(f"j{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    adds[0].cancel()
    broker.gate.set()
    await asyncio.wait_for(asyncio.gather(*adds[1:]), 5)
    assert broker.confirmed == {"j0", "j1", "j2"}


async def test_close_publishes_the_partial_batch_and_later_events_alone() -> None:
    memory = MemoryBroker()
    box = outbox(memory, max_events=100, max_age_s=3600)
    pending = [asyncio.create_task(box.add(event(f"j{i}"))) for i in range(2)]
    await asyncio.sleep(0)
    await box.close()
    await asyncio.wait_for(asyncio.gather(*pending), 5)
    await asyncio.wait_for(box.add(event("late")), 5)
    assert await drain(memory, 2) == [["j0", "j1"], ["late"]]


async def test_an_idle_outbox_publishes_at_once_and_gathers_while_a_publish_is_in_flight() -> None:
    broker = Recording(MemoryBroker())
    # An age limit of an hour: anything that returns did not wait for it.
    box = outbox(broker, max_events=500, max_age_s=3600)
    await asyncio.wait_for(box.add(event("solo")), 5)
    assert broker.confirmed == {"solo"}

    broker.gate.clear()  # the next publish stays in flight until the gate opens
    first = asyncio.create_task(box.add(event("first")))
    await asyncio.sleep(0.05)
    later = [asyncio.create_task(box.add(event(f"later-{i}"))) for i in range(20)]
    await asyncio.sleep(0.05)
    assert not first.done() and not any(t.done() for t in later)
    broker.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 5)
    messages = await drain(broker.inner, 3)
    # "solo", then "first" alone (the outbox was idle), then the 20 gathered meanwhile as one.
    assert [len(m) for m in messages] == [1, 1, 20]
    await box.close()
