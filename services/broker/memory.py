"""Embedded broker: asyncio queues in one process, with the same semantics the RabbitMQ
adapter gives (acks, prefetch, delivery limit, dead-letter queues, delayed publish)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.broker.base import Handler, OutgoingMessage
from services.broker.queues import dead_letter_queue
from services.errors import Unavailable
from services.observability import tracing


@dataclass(slots=True)
class _Message:
    body: bytes
    message_id: str
    headers: dict[str, str | int]
    delivery_count: int = 0


@dataclass(slots=True)
class _Delivery:
    broker: MemoryBroker
    queue: str
    message: _Message
    release: asyncio.Semaphore
    settled: bool = False
    body: bytes = field(init=False)
    message_id: str = field(init=False)
    headers: dict[str, str | int] = field(init=False)
    redelivered: bool = field(init=False)
    delivery_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.body = self.message.body
        self.message_id = self.message.message_id
        self.headers = self.message.headers
        self.delivery_count = self.message.delivery_count
        self.redelivered = self.delivery_count > 0

    def _settle(self) -> bool:
        if self.settled:
            return False
        self.settled = True
        self.release.release()
        return True

    async def ack(self) -> None:
        self._settle()

    async def reject(self) -> None:
        if self._settle():
            self.broker._put(dead_letter_queue(self.queue), self.message)

    async def requeue(self) -> None:
        if self._settle():
            self.message.delivery_count += 1
            if self.message.delivery_count > self.broker.delivery_limit:
                self.broker._put(dead_letter_queue(self.queue), self.message)
            else:
                self.broker._put(self.queue, self.message)


class _Subscription:
    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    async def cancel(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class MemoryBroker:
    def __init__(self, delivery_limit: int = 5) -> None:
        self.delivery_limit = delivery_limit
        self._queues: dict[str, asyncio.Queue[_Message]] = {}
        self._timers: set[asyncio.TimerHandle] = set()

    def _queue(self, name: str) -> asyncio.Queue[_Message]:
        return self._queues.setdefault(name, asyncio.Queue())

    def _put(self, name: str, message: _Message) -> None:
        self._queue(name).put_nowait(message)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()

    async def declare(self, queues: Sequence[str]) -> None:
        for name in queues:
            self._queue(name)
            self._queue(dead_letter_queue(name))

    async def publish(self, queue: str, message: OutgoingMessage, *, delay_s: float = 0) -> None:
        with tracing.span(f"publish {queue}", kind="producer",
                          attributes={"messaging.destination.name": queue}):
            item = _Message(message.body, message.message_id, tracing.inject(dict(message.headers)))
        if delay_s <= 0:
            self._put(queue, item)
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(timer)
            self._put(queue, item)

        timer = loop.call_later(delay_s, fire)
        self._timers.add(timer)

    async def publish_many(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        for message in messages:
            await self.publish(queue, message)

    async def publish_each(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
        outcomes: list[Unavailable | None] = []
        for message in messages:
            try:
                await self.publish(queue, message)
                outcomes.append(None)
            except Unavailable as exc:
                outcomes.append(exc)
        return outcomes

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> _Subscription:
        source = self._queue(queue)
        slots = asyncio.Semaphore(prefetch)
        tasks: set[asyncio.Task[None]] = set()

        async def pump() -> None:
            while True:
                await slots.acquire()
                message = await source.get()
                task: asyncio.Task[None] = asyncio.ensure_future(handler(_Delivery(self, queue, message, slots)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        return _Subscription(asyncio.create_task(pump(), name=f"consume:{queue}"))

    async def depth(self, queue: str) -> int:
        return self._queue(queue).qsize()

    async def ping(self) -> None:
        return None
