"""Publishing many messages at once on aio-pika's underlying aiormq channel: one channel
lock, one socket write and one wait for all their confirms.

aiormq's `basic_publish` cost ~150 us of CPU per message here: a lock, two context
managers and a timeout per call, a task per message when they are awaited together, and
one socket write each. A dispatch round publishes up to `dispatch_ahead` (200) messages.
`publish_confirmed` does for each message what `basic_publish` does (a delivery tag, a
confirmation future registered with the channel, its message id mapped to the tag so a
return fails it) so aiormq's own reader settles the confirms, acks, nacks and returns as
for any publish; it only takes the lock and writes the frames once for the lot.

It relies on these aiormq 7.2 channel attributes: `lock`, `delivery_tag`, `confirmations`,
`message_id_delivery_tag`, `create_future`, `write_queue`, `number`, `max_content_size`.
tests/services/broker/test_rabbit_publish.py covers confirms, a return and a closed channel.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import aiormq
from aiormq.abc import ChannelFrame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

Message = tuple[bytes, aiormq.spec.Basic.Properties]


def _frames(channel: aiormq.Channel, routing_key: str, body: bytes,
            properties: aiormq.spec.Basic.Properties) -> list[Any]:
    out: list[Any] = [aiormq.spec.Basic.Publish(exchange="", routing_key=routing_key, mandatory=True),
                      ContentHeader(properties=properties, body_size=len(body))]
    size = channel.max_content_size
    out += [ContentBody(body[i:i + size]) for i in range(0, len(body), size)]
    return out


async def publish_confirmed(channel: aiormq.Channel, routing_key: str, messages: Sequence[Message],
                            *, timeout_s: float) -> list[BaseException | None]:
    """Publish each message (mandatory, to the default exchange); each one's outcome in
    order: None once the broker confirmed it, else why not (nack, return, closed channel,
    no confirm within `timeout_s`). Message ids should be unique among unconfirmed
    publishes: a return finds its message by id."""
    if not messages:
        return []
    ids: list[str] = []
    for _, properties in messages:
        # A return names its message by id (aiormq makes one up when there is none).
        properties.message_id = properties.message_id or uuid.uuid4().hex
        ids.append(properties.message_id)
    confirmations: list[asyncio.Future[Any]] = []
    async with channel.lock:
        first = channel.delivery_tag
        sent = False
        try:
            frames: list[Any] = []
            for (body, properties), message_id in zip(messages, ids, strict=True):
                channel.delivery_tag += 1
                confirmation = channel.create_future()
                channel.confirmations[channel.delivery_tag] = confirmation
                channel.message_id_delivery_tag[message_id] = channel.delivery_tag
                confirmations.append(confirmation)
                frames += _frames(channel, routing_key, body, properties)
            await channel.write_queue.put(ChannelFrame.marshall(frames=frames, channel_number=channel.number))
            sent = True
        finally:
            if not sent:
                # The broker saw none of them: give the delivery tags back under the lock.
                for tag, message_id in enumerate(ids, start=first + 1):
                    channel.confirmations.pop(tag, None)
                    if channel.message_id_delivery_tag.get(message_id) == tag:
                        channel.message_id_delivery_tag.pop(message_id)
                for confirmation in confirmations:
                    confirmation.cancel()
                channel.delivery_tag = first
    for tag, (message_id, confirmation) in enumerate(zip(ids, confirmations, strict=True), start=first + 1):
        confirmation.add_done_callback(_forget(channel, message_id, tag))
    try:
        _, pending = await asyncio.wait(confirmations, timeout=timeout_s)
    finally:
        for confirmation in confirmations:
            if not confirmation.done():
                confirmation.cancel()  # timed out, or we were cancelled: aiormq ignores its ack
    return [_outcome(c, timed_out=c in pending) for c in confirmations]


def _forget(channel: aiormq.Channel, message_id: str, tag: int) -> Any:
    def forget(_: asyncio.Future[Any]) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget


def _outcome(confirmation: asyncio.Future[Any], *, timed_out: bool) -> BaseException | None:
    if timed_out:
        return TimeoutError("no publisher confirm in time")
    if confirmation.cancelled():
        return asyncio.CancelledError()
    exc = confirmation.exception()
    if exc is not None:
        return exc
    if isinstance(confirmation.result(), aiormq.spec.Basic.Ack):
        return None
    return aiormq.exceptions.DeliveryError(None, confirmation.result())
