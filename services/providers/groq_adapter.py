"""Groq through its official `groq` SDK (OpenAI's wire format under /openai/v1).

Streaming usage: Groq reports it as `x_groq.usage` on the last chunk (and as `usage` when
`stream_options.include_usage` is sent); both are read. Groq serves no embedding models.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import groq
import httpx

from services.providers import errors, openai_wire
from services.providers.clients import (
    MAX_CONNECTIONS,
    MAX_KEEPALIVE,
    SdkClients,
    ssl_context,
)
from services.providers.pricing import cost_usd
from services.providers.types import ChatRequest, ChatResult, EmbeddingResult, StreamChunk


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `groq` SDK exceptions become platform errors (None: not ours)."""
    if isinstance(exc, groq.APIStatusError):
        message, code, kind = errors.body_error_fields(exc.body)
        return errors.from_status(
            provider, exc.status_code, message or str(exc), headers=exc.response.headers,
            error_code=code, error_type=kind,
        )
    if isinstance(exc, groq.APITimeoutError | httpx.TimeoutException):
        return errors.timeout(provider)
    if isinstance(exc, groq.APIResponseValidationError | json.JSONDecodeError):
        return errors.bad_response(provider, type(exc).__name__)
    if isinstance(exc, groq.APIConnectionError | httpx.TransportError):
        return errors.connection_error(provider, type(exc).__name__)
    return None


class GroqAdapter:
    def __init__(self, name: str = "groq", *, base_url: str | None = None,
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 cache_size: int = 64) -> None:
        self.name = name
        self.base_url = base_url
        timeout = groq.Timeout(timeout_s, connect=connect_timeout_s)
        self._clients: SdkClients[httpx.AsyncClient, groq.AsyncGroq] = SdkClients(
            lambda: groq.DefaultAsyncHttpxClient(
                timeout=timeout, verify=ssl_context(),
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS,
                                    max_keepalive_connections=MAX_KEEPALIVE),
            ),
            lambda pool, key: groq.AsyncGroq(
                api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=pool,
            ),
            lambda pool: pool.aclose(), size=cache_size,
        )

    def _client(self, api_key: str | None) -> groq.AsyncGroq:
        if not api_key:
            raise errors.ProviderAuthFailed(f"no credential for {self.name}", provider=self.name)
        return self._clients.get(api_key)

    @staticmethod
    def _params(request: ChatRequest, model: str) -> dict[str, Any]:
        return openai_wire.drop_none({
            "model": model,
            "messages": openai_wire.messages(request),
            "tools": openai_wire.tools(request),
            "tool_choice": openai_wire.tool_choice(request),
            "response_format": openai_wire.response_format(request),
            "temperature": request.temperature,
            "max_completion_tokens": request.max_tokens,
            "stop": request.stop,
            "seed": request.seed,
            "user": request.user,
        })

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        client = self._client(api_key)
        started = time.perf_counter()
        try:
            response = await client.chat.completions.create(**self._params(request, model))
        except Exception as exc:
            mapped = _map_error(self.name, exc)
            if mapped is None:
                raise
            raise mapped from exc
        with errors.parsing(self.name):
            choice = response.choices[0]
            usage = openai_wire.usage(response.usage)
            return ChatResult(
                content=choice.message.content,
                tool_calls=openai_wire.tool_calls(choice.message.tool_calls),
                finish_reason=choice.finish_reason or "stop",
                usage=usage, provider=self.name, model=model,
                latency_ms=(time.perf_counter() - started) * 1000,
                cost_usd=cost_usd(self.name, model, usage),
            )

    async def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        client = self._client(api_key)
        state = openai_wire.StreamState()
        try:
            stream = await client.chat.completions.create(stream=True,
                                                          **self._params(request, model))
            try:
                async for chunk in stream:
                    with errors.parsing(self.name):
                        delta = state.feed(chunk)
                        x_groq = getattr(chunk, "x_groq", None)
                        if x_groq is not None and x_groq.usage is not None:
                            state.usage = openai_wire.usage(x_groq.usage)
                    if delta:
                        yield StreamChunk(delta=delta)
            finally:
                await stream.close()
            if state.finish_reason is None:
                raise errors.bad_response(self.name, "stream ended before its finish_reason")
        except (errors.ProviderRetryable, errors.ProviderPermanent):
            raise
        except Exception as exc:
            mapped = _map_error(self.name, exc)
            if mapped is None:
                raise
            raise mapped from exc
        yield state.final()

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        raise errors.unsupported(self.name, "embeddings")

    async def aclose(self) -> None:
        await self._clients.aclose()
