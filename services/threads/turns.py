"""The seam between the chatbot's HTTP/WebSocket front and the job lifecycle.

`TurnRunner.run_turn` submits one turn and yields its events as they happen: `thread`
(first, data `{thread_id, turn}`: a new conversation learns its id at once), any number of
`chunk` (`{delta}`), then `done` (`{result}`: the job's result). Failures raise a
PlatformError (services/errors.py), which the front turns into an HTTP status or a
WebSocket `error` message. The wiring of the lifecycle implements it (open the turn with
ThreadService.open_turn, submit a `chatbot` job with a ChatbotJobPayload, relay its
events); the front never knows about queues.

`TurnLimiter` is where the shared rate limiter (services/limits/) plugs in: 100 turns a
minute per bridge and end user, 20 per thread. `NoLimits` is the default until it lands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.auth.principal import Principal
from services.providers.types import Message

THREAD, CHUNK, DONE = "thread", "chunk", "done"


@dataclass(frozen=True, slots=True)
class TurnEvent:
    type: str  # THREAD | CHUNK | DONE
    data: dict[str, Any] = field(default_factory=dict)


class TurnRunner(Protocol):
    def run_turn(
        self, principal: Principal, bridge: str, thread_id: str | None, message: Message,
        variables: dict[str, Any],
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn of `thread_id` (None: a new thread) on `bridge` (id or slug)."""
        ...


class TurnLimiter(Protocol):
    async def check(self, principal: Principal, bridge: str, thread_id: str | None) -> None:
        """Raise a 429 PlatformError (with retry_after_s) when a limit is reached."""


class NoLimits:
    async def check(self, principal: Principal, bridge: str, thread_id: str | None) -> None:
        return None
