"""The broker port: what the API and workers need from a message queue.

Two adapters implement it: `memory.MemoryBroker` (asyncio, for `python index.py` and unit
tests) and `rabbit.RabbitBroker` (aio-pika). tests/services/broker runs one contract suite
against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.errors import Unavailable


@dataclass(slots=True)
class OutgoingMessage:
    body: bytes
    message_id: str
    headers: dict[str, str | int] = field(default_factory=dict)


class Delivery(Protocol):
    """One received message. Exactly one of ack / reject / requeue must be called."""

    body: bytes
    message_id: str
    headers: dict[str, str | int]
    redelivered: bool
    # How many times the broker handed this message out before (0 on first delivery).
    delivery_count: int

    async def ack(self) -> None: ...

    async def reject(self) -> None:
        """Send to the queue's dead-letter queue."""

    async def requeue(self) -> None:
        """Return to the queue now; counts towards the delivery limit."""


Handler = Callable[[Delivery], Awaitable[None]]


class Subscription(Protocol):
    async def cancel(self) -> None:
        """Stop receiving new messages; unacked ones go back to the queue on close."""


class Broker(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def declare(self, queues: Sequence[str]) -> None:
        """Create each queue with its dead-letter queue (idempotent)."""

    async def publish(self, queue: str, message: OutgoingMessage, *, delay_s: float = 0) -> None:
        """Return once the broker has confirmed the message; raise Unavailable otherwise.

        With a delay the message waits in a delay queue and then lands in `queue`.
        """

    async def publish_many(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Publish all, awaiting the confirms concurrently; raise Unavailable if any failed."""

    async def publish_each(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
        """Publish all at once; per message, None once the broker confirmed it, else the
        Unavailable it failed with (the others are unaffected)."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> Subscription: ...

    async def depth(self, queue: str) -> int:
        """Messages ready in the queue."""

    async def ping(self) -> None:
        """Raise when the broker is unreachable."""
