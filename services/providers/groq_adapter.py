"""Groq through its official `groq` SDK (OpenAI's wire format under /openai/v1).

Streaming usage: Groq reports it as `x_groq.usage` on the last chunk (and as `usage` when
`stream_options.include_usage` is sent); both are read. Groq serves no embedding models.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import groq
import httpx

from services.providers import common, errors, openai_wire
from services.providers.clients import SdkClients
from services.providers.types import ChatRequest, ChatResult, EmbeddingResult, StreamChunk


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `groq` SDK exceptions become platform errors (None: not ours)."""
    return common.map_stainless_error(groq, httpx, provider, exc)


def _feed(state: openai_wire.StreamState, chunk: Any) -> str:
    delta = state.feed(chunk)
    x_groq = getattr(chunk, "x_groq", None)
    if x_groq is not None and x_groq.usage is not None:
        state.usage = openai_wire.usage(x_groq.usage)
    return delta


class GroqAdapter:
    def __init__(self, name: str = "groq", *, base_url: str | None = None,
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 cache_size: int = 64) -> None:
        self.name = name
        self.base_url = base_url
        self._clients: SdkClients[httpx.AsyncClient, groq.AsyncGroq] = (
            common.stainless_clients(groq, httpx, groq.AsyncGroq, base_url=base_url,
                                     timeout_s=timeout_s, connect_timeout_s=connect_timeout_s,
                                     cache_size=cache_size))

    def _client(self, api_key: str | None) -> groq.AsyncGroq:
        return self._clients.get(common.credential(self.name, api_key))

    @staticmethod
    def _params(request: ChatRequest, model: str) -> dict[str, Any]:
        return openai_wire.chat_params(request, model, max_tokens_param="max_completion_tokens")

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        client = self._client(api_key)
        started = time.perf_counter()
        with common.mapped_errors(self.name, _map_error):
            response = await client.chat.completions.create(**self._params(request, model))
        return common.openai_chat_result(response, provider=self.name, model=model,
                                         started=started)

    def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        async def open_stream() -> Any:
            client = self._client(api_key)
            return await client.chat.completions.create(stream=True,
                                                        **self._params(request, model))

        return common.openai_stream(self.name, _map_error, open_stream, feed=_feed)

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        raise errors.unsupported(self.name, "embeddings")

    async def aclose(self) -> None:
        await self._clients.aclose()
