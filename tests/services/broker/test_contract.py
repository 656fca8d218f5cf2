"""One contract, two brokers: the in-memory adapter must behave like RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.broker.base import Broker, Delivery, OutgoingMessage
from services.broker.queues import dead_letter_queue
from services.errors import Unavailable
from tests.backends import BACKENDS, context, make_settings

Q = "jobs.model"


@pytest.fixture(params=BACKENDS)
async def broker(request: pytest.FixtureRequest, unique: str, tmp_path) -> AsyncIterator[Broker]:
    settings = make_settings(request.param, unique, tmp_path, rabbit={"delivery_limit": 2})
    async with context(settings) as ctx:
        await ctx.broker.declare([Q])
        yield ctx.broker


class Collector:
    def __init__(self, action: str = "ack") -> None:
        self.action = action
        self.seen: list[Delivery] = []
        self.event = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.seen.append(delivery)
        self.event.set()
        await getattr(delivery, self.action)()

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        async def loop() -> None:
            while len(self.seen) < count:
                self.event.clear()
                await self.event.wait()
        await asyncio.wait_for(loop(), timeout)


def msg(i: int) -> OutgoingMessage:
    return OutgoingMessage(f"body-{i}".encode(), message_id=f"m{i}", headers={"n": i})


async def test_published_messages_are_delivered_with_ids_and_headers(broker: Broker) -> None:
    await broker.publish_many(Q, [msg(i) for i in range(20)])
    got = Collector()
    sub = await broker.consume(Q, got, prefetch=5)
    await got.wait_for(20)
    await sub.cancel()
    assert sorted(d.message_id for d in got.seen) == sorted(f"m{i}" for i in range(20))
    first = next(d for d in got.seen if d.message_id == "m3")
    assert first.body == b"body-3" and first.headers["n"] == 3 and not first.redelivered


async def test_requeued_message_comes_back_then_dead_letters_at_the_limit(broker: Broker) -> None:
    await broker.publish(Q, msg(1))
    bouncer = Collector("requeue")
    sub = await broker.consume(Q, bouncer, prefetch=1)
    await bouncer.wait_for(3)  # first delivery + 2 redeliveries (limit 2)
    dead = Collector()
    dead_sub = await broker.consume(dead_letter_queue(Q), dead, prefetch=1)
    await dead.wait_for(1)
    await sub.cancel()
    await dead_sub.cancel()
    assert [d.delivery_count for d in bouncer.seen] == [0, 1, 2]
    assert bouncer.seen[1].redelivered
    assert dead.seen[0].message_id == "m1"


async def test_rejected_message_goes_to_the_dead_letter_queue(broker: Broker) -> None:
    await broker.publish(Q, msg(7))
    rejecter = Collector("reject")
    sub = await broker.consume(Q, rejecter, prefetch=1)
    dead = Collector()
    dead_sub = await broker.consume(dead_letter_queue(Q), dead, prefetch=1)
    await dead.wait_for(1)
    await sub.cancel()
    await dead_sub.cancel()
    assert dead.seen[0].body == b"body-7"
    assert len(rejecter.seen) == 1


async def test_delayed_message_waits_then_arrives(broker: Broker) -> None:
    await broker.publish(Q, msg(9), delay_s=0.5)
    assert await broker.depth(Q) == 0  # held in the delay queue, not yet in the target
    got = Collector()
    sub = await broker.consume(Q, got, prefetch=1)
    await got.wait_for(1)
    await sub.cancel()
    assert got.seen[0].message_id == "m9"


async def test_prefetch_bounds_unacked_deliveries(broker: Broker) -> None:
    await broker.publish_many(Q, [msg(i) for i in range(10)])
    held: list[Delivery] = []
    arrived = asyncio.Event()

    async def hold(delivery: Delivery) -> None:
        held.append(delivery)
        arrived.set()

    sub = await broker.consume(Q, hold, prefetch=3)
    await asyncio.wait_for(arrived.wait(), 10)
    await asyncio.sleep(0.3)
    assert len(held) == 3  # nothing more until one is acked
    await held[0].ack()
    for _ in range(50):
        if len(held) == 4:
            break
        await asyncio.sleep(0.05)
    assert len(held) == 4
    await sub.cancel()
    for d in held[1:]:
        await d.ack()


async def test_depth_counts_ready_messages(broker: Broker) -> None:
    await broker.publish_many(Q, [msg(i) for i in range(4)])
    for _ in range(50):
        if await broker.depth(Q) == 4:
            break
        await asyncio.sleep(0.05)
    assert await broker.depth(Q) == 4


async def test_rabbit_unroutable_publish_is_a_failure(unique: str, tmp_path) -> None:
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        with pytest.raises(Unavailable):
            await ctx.broker.publish("never.declared", msg(1))
        # The channel survives the returned message: the next publish to a real queue works.
        await ctx.broker.declare([Q])
        await ctx.broker.publish(Q, msg(2))


async def test_one_slow_message_does_not_hold_back_the_acks_behind_it(broker: Broker) -> None:
    await broker.publish_many(Q, [msg(i) for i in range(30)])
    held: list[Delivery] = []
    acked: list[str] = []
    all_in = asyncio.Event()

    async def handler(delivery: Delivery) -> None:
        if not held:
            held.append(delivery)  # the slow one: settled only at the end
            return
        await delivery.ack()
        acked.append(delivery.message_id)
        if len(acked) == 29:
            all_in.set()

    sub = await broker.consume(Q, handler, prefetch=5)
    # With prefetch 5 the other 29 can only arrive if their acks went out past the held one.
    await asyncio.wait_for(all_in.wait(), 15)
    await held[0].ack()
    await sub.cancel()
    await asyncio.sleep(0.3)
    assert await broker.depth(Q) == 0


async def test_acks_settled_out_of_order_are_all_kept(broker: Broker, unique: str) -> None:
    await broker.publish_many(Q, [msg(i) for i in range(40)])
    got: list[Delivery] = []
    full = asyncio.Event()

    async def collect(delivery: Delivery) -> None:
        got.append(delivery)
        if len(got) == 40:
            full.set()

    sub = await broker.consume(Q, collect, prefetch=40)
    await asyncio.wait_for(full.wait(), 15)
    for delivery in reversed(got):  # newest first: no contiguous run until the very last
        await delivery.ack()
    await asyncio.sleep(0.3)
    await sub.cancel()
    again = Collector()
    sub2 = await broker.consume(Q, again, prefetch=40)
    await asyncio.sleep(0.5)
    await sub2.cancel()
    assert again.seen == [] and await broker.depth(Q) == 0
