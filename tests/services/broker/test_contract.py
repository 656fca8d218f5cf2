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


async def test_settling_in_any_order_with_requeues_and_rejects_keeps_every_outcome(broker: Broker) -> None:
    """Acks of one tick leave as one multiple ack where the delivery order allows: a requeue
    or a reject among them must still come back or dead-letter, and nothing acked returns."""
    await broker.publish_each(Q, [msg(i) for i in range(120)])
    first: dict[str, str] = {}
    again: list[str] = []
    seen = asyncio.Event()

    async def settle(delivery: Delivery) -> None:
        await asyncio.sleep((hash(delivery.message_id) % 7) / 1000)  # finish out of order
        n = int(delivery.message_id[1:])
        if delivery.message_id in first:
            again.append(delivery.message_id)
            await delivery.ack()
        elif n % 10 == 3:
            first[delivery.message_id] = "requeue"
            await delivery.requeue()
        elif n % 10 == 7:
            first[delivery.message_id] = "reject"
            await delivery.reject()
        else:
            first[delivery.message_id] = "ack"
            await delivery.ack()
        if len(first) == 120 and len(again) == 12:
            seen.set()

    sub = await broker.consume(Q, settle, prefetch=40)
    await asyncio.wait_for(seen.wait(), 20)
    dead = Collector()
    dead_sub = await broker.consume(dead_letter_queue(Q), dead, prefetch=20)
    await dead.wait_for(12)
    await asyncio.sleep(0.3)
    await sub.cancel()
    await dead_sub.cancel()
    assert sorted(again) == sorted(m for m, how in first.items() if how == "requeue")
    assert sorted(d.message_id for d in dead.seen) == sorted(m for m, how in first.items() if how == "reject")
    assert await broker.depth(Q) == 0


async def test_publish_each_confirms_every_message(broker: Broker) -> None:
    assert await broker.publish_each(Q, [msg(i) for i in range(50)]) == [None] * 50
    assert await broker.publish_each(Q, []) == []
    got = Collector()
    sub = await broker.consume(Q, got, prefetch=50)
    await got.wait_for(50)
    await sub.cancel()
    assert sorted(d.message_id for d in got.seen) == sorted(f"m{i}" for i in range(50))


async def test_rabbit_publish_each_reports_each_unroutable_message(unique: str, tmp_path) -> None:
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        outcomes = await ctx.broker.publish_each("never.declared", [msg(i) for i in range(5)])
        assert len(outcomes) == 5 and all(isinstance(o, Unavailable) for o in outcomes)
        await ctx.broker.declare([Q])
        assert await ctx.broker.publish_each(Q, [msg(i) for i in range(5)]) == [None] * 5


async def test_rabbit_publish_each_never_confirms_a_message_the_broker_lost(unique: str, tmp_path) -> None:
    """The channel closes while a batch awaits its confirms: each message is confirmed or
    failed (none hangs), and every one reported confirmed is in the queue."""
    settings = make_settings("real", unique, tmp_path)
    async with context(settings) as ctx:
        await ctx.broker.declare([Q])
        batch = ctx.broker.publish_each(Q, [msg(i) for i in range(300)])
        publishing = asyncio.ensure_future(batch)
        await asyncio.sleep(0)
        channel = ctx.broker._channel  # type: ignore[attr-defined]
        await (await channel.get_underlay_channel()).close()
        outcomes = await asyncio.wait_for(publishing, 15)
        assert all(o is None or isinstance(o, Unavailable) for o in outcomes)
        confirmed = {f"m{i}" for i, o in enumerate(outcomes) if o is None}
        got = Collector()
        sub = await ctx.broker.consume(Q, got, prefetch=300)
        await asyncio.sleep(1.0)
        await sub.cancel()
        assert confirmed <= {d.message_id for d in got.seen}
        assert await ctx.broker.publish_each(Q, [msg(1000)]) == [None]  # a fresh channel
