"""The narrow port other job kinds (chatbot, RAG) use to make a chat call.

The chat executor implements it: cache -> fallback chain -> breaker -> retry -> provider ->
tool rounds -> cost. A chatbot turn or a RAG answer builds a ChatJobPayload (history,
retrieved context) and hands it here, so every kind shares one provider path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from services.chat.schemas import ChatJobPayload
from services.jobs.executor import Outcome, RunAttempts, StreamEvent


class ChatCompleter(Protocol):
    async def complete(
        self, payload: ChatJobPayload, *, org_id: str, job_id: str | None, attempts: RunAttempts,
        deadline: float | None = None,
    ) -> Outcome:
        """Run the chat request to its final answer; `deadline` is a time.monotonic() instant."""
        ...

    def complete_stream(
        self, payload: ChatJobPayload, *, org_id: str, job_id: str | None, attempts: RunAttempts,
        deadline: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield `chunk` events as the model writes, then one `done` carrying the Outcome."""
        ...
