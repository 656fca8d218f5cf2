"""The RabbitMQ consumer's acks (services/broker/rabbit_consume.Acks) against a model of the
broker's rules, over many random settle orders: an ack naming a tag that is not outstanding
closes the channel ("unknown delivery tag"), and a multiple ack settles every outstanding
delivery up to its tag, so it must never reach one still running or one rejected later."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp.header import ContentHeader

from services.broker import rabbit_consume
from services.broker.rabbit_consume import Acks, RabbitDelivery


class Broker:
    """What RabbitMQ does with the frames the channel sends, in order."""

    def __init__(self) -> None:
        self.outstanding: set[int] = set()
        self.acked: set[int] = set()
        self.frames = 0
        self.errors: list[str] = []

    def deliver(self, tag: int) -> None:
        self.outstanding.add(tag)

    def ack(self, tag: int, multiple: bool) -> None:
        self.frames += 1
        if tag not in self.outstanding:
            self.errors.append(f"unknown delivery tag {tag}")
            return
        covered = {t for t in self.outstanding if t <= tag} if multiple else {tag}
        self.outstanding -= covered
        self.acked |= covered

    def settle_other(self, tag: int) -> None:
        self.frames += 1
        if tag not in self.outstanding:
            self.errors.append(f"unknown delivery tag {tag}")
        self.outstanding.discard(tag)


class Channel:
    def __init__(self, broker: Broker, rng: random.Random | None = None) -> None:
        self.broker = broker
        self.rng = rng or random.Random(0)

    async def basic_ack(self, tag: int, multiple: bool = False, wait: bool = True) -> None:
        for _ in range(self.rng.choice([0, 0, 1, 2])):
            await asyncio.sleep(0)  # a full write queue makes a sender wait now and then
        self.broker.ack(tag, multiple)

    async def basic_reject(self, tag: int, *, requeue: bool = True, wait: bool = True) -> None:
        self.broker.settle_other(tag)

    async def basic_nack(self, tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True) -> None:
        self.broker.settle_other(tag)


async def sent(acks: Acks) -> None:
    """Let the flush and the sender run to the end."""
    for _ in range(10_000):
        await asyncio.sleep(0)
        if not acks._scheduled and (acks._sender is None or acks._sender.done()):
            return


def delivery(tag: int, channel: Any, acks: Acks) -> RabbitDelivery:
    message = DeliveredMessage(
        delivery=aiormq.spec.Basic.Deliver(delivery_tag=tag, consumer_tag="c", routing_key="q"),
        header=ContentHeader(properties=aiormq.spec.Basic.Properties(message_id=f"m{tag}")),
        body=b"", channel=channel)
    return RabbitDelivery(message, channel, acks)


async def run(seed: int, count: int = 300) -> tuple[Broker, dict[int, str]]:
    rng = random.Random(seed)
    broker = Broker()
    channel = Channel(broker, rng)
    acks = Acks(channel)  # type: ignore[arg-type]
    outcome: dict[int, str] = {}
    running: list[RabbitDelivery] = []
    next_tag = 1
    while next_tag <= count or running:
        # Deliveries arrive in tag order; settles happen in any order, a few per tick.
        for _ in range(rng.randint(0, 6)):
            if next_tag <= count:
                broker.deliver(next_tag)
                running.append(delivery(next_tag, channel, acks))
                next_tag += 1
        rng.shuffle(running)
        for _ in range(min(len(running), rng.randint(0, 5))):
            settled = running.pop()
            tag = int(settled.message_id[1:])
            if tag % 97 == 0 and next_tag <= count:
                running.append(settled)  # a slow one: stays running for a while
                continue
            how = rng.choices(["ack", "reject", "requeue"], [90, 5, 5])[0]
            outcome[tag] = how
            await getattr(settled, how)()
        for _ in range(rng.randint(1, 3)):
            await asyncio.sleep(0)
    await sent(acks)
    return broker, outcome


async def test_acks_never_name_a_settled_tag_nor_cover_a_running_or_rejected_delivery() -> None:
    for seed in range(40):
        broker, outcome = await run(seed)
        assert broker.errors == [], seed
        assert broker.acked == {t for t, how in outcome.items() if how == "ack"}, seed
        assert broker.outstanding == set(), seed


async def test_acks_of_deliveries_settled_in_order_share_frames() -> None:
    broker = Broker()
    channel = Channel(broker)
    acks = Acks(channel)  # type: ignore[arg-type]
    held = [delivery(tag, channel, acks) for tag in range(1, 201)]
    for tag in range(1, 201):
        broker.deliver(tag)
    for settled in held:
        await settled.ack()
    await sent(acks)
    assert broker.acked == set(range(1, 201)) and broker.frames == 1


async def test_the_run_behind_a_long_running_delivery_is_forgotten_once_settled() -> None:
    broker = Broker()
    channel = Channel(broker)
    acks = Acks(channel)  # type: ignore[arg-type]
    slow = delivery(1, channel, acks)
    broker.deliver(1)
    total = rabbit_consume.COMPACT_AFTER * 2
    for tag in range(2, total):
        broker.deliver(tag)
        await delivery(tag, channel, acks).ack()
        if tag % 100 == 0:
            await asyncio.sleep(0)
    await sent(acks)
    assert len(acks._open) <= rabbit_consume.COMPACT_AFTER + 100  # not every tag since the slow one
    await slow.ack()
    await sent(acks)
    assert broker.errors == [] and broker.outstanding == set()
