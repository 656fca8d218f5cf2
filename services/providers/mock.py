"""The built-in `mock` provider: echoes the last user message, with configurable latency.

It lets `python index.py` complete a job with no API key and lets benchmarks measure the
platform alone. Latency comes from the model name (`mock-250ms`) or the request's
`metadata.mock_latency_ms`, defaulting to the provider's configured latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator

from services.providers.types import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    Message,
    StreamChunk,
    Usage,
)

_LATENCY = re.compile(r"-(\d+)ms$")


def _last_user_text(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            if isinstance(message.content, str):
                return message.content
            return " ".join(p.text or "" for p in message.content or [] if p.type == "text")
    return ""


class MockProvider:
    name = "mock"

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms

    def _latency(self, model: str) -> float:
        found = _LATENCY.search(model)
        return float(found.group(1)) if found else self.latency_ms

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        started = time.perf_counter()
        delay = self._latency(model)
        if delay:
            await asyncio.sleep(delay / 1000)
        text = _last_user_text(request.messages)
        # Whitespace word counts stand in for tokens: deterministic and cheap.
        usage = Usage(
            input_tokens=sum(len(_last_user_text([m]).split()) for m in request.messages) + 1,
            output_tokens=len(text.split()) + 1,
        )
        return ChatResult(
            content=f"echo: {text}", provider=self.name, model=model, usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        result = await self.complete(request, model=model, api_key=api_key)
        words = (result.content or "").split(" ")
        for i, word in enumerate(words):
            yield StreamChunk(delta=word if i == 0 else " " + word)
        yield StreamChunk(finish_reason="stop", usage=result.usage)

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        vectors = []
        for text in inputs:
            digest = hashlib.sha256(text.encode()).digest()
            vectors.append([b / 255 for b in digest[:16]])
        return EmbeddingResult(
            vectors=vectors, provider=self.name, model=model,
            usage=Usage(input_tokens=sum(len(t.split()) for t in inputs)),
        )
