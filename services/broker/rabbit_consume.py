"""The consuming side of the RabbitMQ adapter, on aio-pika's underlying aiormq channel.

Two costs dominate a Python consumer at high rates (measured here: ~1,800 msg/s ceiling
with aio-pika's message objects and one ack frame per message):
- aio-pika wraps each delivery in an IncomingMessage and a second task; consuming straight
  on the aiormq channel keeps one task and one small object per message;
- waiting, per ack, for the frame to reach the socket: acks go out without waiting, and
  those of one loop tick as one frame where the delivery order allows (`Acks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiormq
from aiormq.abc import DeliveredMessage

from services.broker.base import Handler

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractConnection

log = logging.getLogger(__name__)
# Tags remembered behind a delivery still running before the settled ones are dropped.
COMPACT_AFTER = 4096


class Acks:
    """One channel's acks: sent without waiting for the socket write, and those settled in
    the same loop tick together.

    The longest run of settled deliveries from the oldest unsettled one goes as ONE
    `basic.ack(multiple=True)` naming the run's last ack; acks past a delivery still running
    go singly. RabbitMQ closes the channel ("unknown delivery tag") when an ack names a tag
    already settled, as an earlier attempt that acked up to the highest settled tag found.
    So a multiple ack only names an ack not sent yet and never covers a running delivery; a
    reject or requeue counts as settled once its frame is out; and ONE sender writes the
    acks in order, so a multiple ack never overtakes a single ack of a tag it covers. With
    jobs of similar length finishing in order, 1,000 acks are a handful of frames.
    """

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self._channel = channel
        # Delivered tags in order, until the run of settled ones from the oldest passes them.
        self._open: deque[int] = deque()
        # Acks not sent yet; tags settled otherwise (a reject or requeue sent, a single ack queued).
        self._acked: set[int] = set()
        self._done: set[int] = set()
        self._scheduled = False
        # (tag, multiple) to send, in order, by one task at a time.
        self._frames: deque[tuple[int, bool]] = deque()
        self._sender: asyncio.Future[None] | None = None

    def delivered(self, tag: int) -> None:
        self._open.append(tag)

    def settled(self, tag: int) -> None:
        """Settled by a frame already written (reject, requeue)."""
        self._done.add(tag)

    def ack(self, tag: int) -> None:
        self._acked.add(tag)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        last = 0
        while self._open and (self._open[0] in self._acked or self._open[0] in self._done):
            tag = self._open.popleft()
            if tag in self._acked:
                self._acked.discard(tag)
                last = tag
            else:
                self._done.discard(tag)
        if last:
            self._frames.append((last, True))
        for tag in sorted(self._acked):
            self._frames.append((tag, False))
            self._done.add(tag)
        self._acked.clear()
        if len(self._open) > COMPACT_AFTER:
            # A delivery running for long holds the run back: forget the settled tags behind
            # it, so only running deliveries (at most the prefetch) stay.
            self._open = deque(t for t in self._open if t not in self._done)
            self._done.clear()
        if self._frames and (self._sender is None or self._sender.done()):
            self._sender = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        while self._frames:
            tag, multiple = self._frames.popleft()
            try:
                await self._channel.basic_ack(tag, multiple=multiple, wait=False)
            except Exception as exc:
                # The channel closed: the broker redelivers every unacked message anyway.
                log.warning("ack not sent", extra={"error": str(exc)})
                self._frames.clear()


class RabbitDelivery:
    __slots__ = ("_acks", "_channel", "_settled", "_tag", "body", "delivery_count", "headers",
                 "message_id", "redelivered")

    def __init__(self, message: DeliveredMessage, channel: aiormq.abc.AbstractChannel, acks: Acks) -> None:
        props = message.header.properties
        raw_headers = props.headers or {}
        frame = message.delivery
        assert isinstance(frame, aiormq.spec.Basic.Deliver) and frame.delivery_tag is not None
        self._channel, self._acks = channel, acks
        self._tag: int = frame.delivery_tag
        self._settled = False
        acks.delivered(self._tag)
        self.body = message.body
        self.message_id = props.message_id or ""
        self.headers = {k: v for k, v in raw_headers.items() if isinstance(v, str | int)}
        self.redelivered = bool(frame.redelivered)
        count = raw_headers.get("x-delivery-count", 0)
        self.delivery_count = int(count) if isinstance(count, int | str) else 0

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            self._acks.ack(self._tag)

    async def reject(self) -> None:
        if not self._settled:
            self._settled = True
            await self._channel.basic_reject(self._tag, requeue=False)
            self._acks.settled(self._tag)

    async def requeue(self) -> None:
        if not self._settled:
            self._settled = True
            await self._channel.basic_nack(self._tag, requeue=True)
            self._acks.settled(self._tag)


class Subscription:
    """One consumer on its own channel, re-startable after a reconnect."""

    def __init__(self, queue_name: str, handler: Handler, prefetch: int,
                 on_cancel: Callable[[Subscription], None]) -> None:
        self.queue_name, self.handler, self.prefetch = queue_name, handler, prefetch
        self._on_cancel = on_cancel
        self.channel: AbstractChannel | None = None
        self.tag: str | None = None
        self.active = True

    async def start(self, connection: AbstractConnection) -> None:
        self.channel = await connection.channel(publisher_confirms=False)
        raw = await self.channel.get_underlay_channel()
        await raw.basic_qos(prefetch_count=self.prefetch)
        acks = Acks(raw)

        async def on_message(message: DeliveredMessage) -> None:
            await self.handler(RabbitDelivery(message, raw, acks))

        ok = await raw.basic_consume(self.queue_name, on_message, no_ack=False)
        self.tag = ok.consumer_tag

    async def cancel(self) -> None:
        self.active = False
        if self.channel is not None and not self.channel.is_closed and self.tag:
            with contextlib.suppress(Exception):
                raw = await self.channel.get_underlay_channel()
                await raw.basic_cancel(self.tag)
        self._on_cancel(self)
