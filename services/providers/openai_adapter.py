"""OpenAI and every OpenAI-compatible service (OpenRouter, Gemini's OpenAI endpoint,
self-hosted vLLM), through the official `openai` SDK, told apart by name and base URL."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

from services.providers import errors, openai_wire
from services.providers.clients import (
    MAX_CONNECTIONS,
    MAX_KEEPALIVE,
    SdkClients,
    ssl_context,
)
from services.providers.pricing import cost_usd
from services.providers.types import ChatRequest, ChatResult, EmbeddingResult, StreamChunk, Usage


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `openai` SDK exceptions become platform errors (None: not ours)."""
    if isinstance(exc, openai.APIStatusError):
        message, code, kind = errors.body_error_fields(exc.body)
        return errors.from_status(
            provider, exc.status_code, message or str(exc), headers=exc.response.headers,
            error_code=code, error_type=kind,
        )
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return errors.timeout(provider)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return errors.bad_response(provider, type(exc).__name__)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return errors.connection_error(provider, type(exc).__name__)
    return None


class OpenAIAdapter:
    """`name` is the registry name (openai, openrouter, gemini, vllm, ...). Keyless
    self-hosted services set `key_required=False`."""

    def __init__(
        self, name: str = "openai", *, base_url: str | None = None, timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0, cache_size: int = 64, key_required: bool = True,
        max_tokens_param: str = "max_tokens", stream_usage: bool = True,
        drop_params: frozenset[str] = frozenset(), supports_embeddings: bool = True,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.key_required = key_required
        # OpenAI's own API wants max_completion_tokens (o-series reject max_tokens);
        # compatible services mostly only know max_tokens.
        self.max_tokens_param = max_tokens_param
        self.stream_usage = stream_usage
        self.drop_params = drop_params
        self.supports_embeddings = supports_embeddings
        timeout = openai.Timeout(timeout_s, connect=connect_timeout_s)
        self._clients: SdkClients[httpx2.AsyncClient, openai.AsyncOpenAI] = SdkClients(
            lambda: openai.DefaultAsyncHttpxClient(
                timeout=timeout, verify=ssl_context(),
                limits=httpx2.Limits(max_connections=MAX_CONNECTIONS,
                                     max_keepalive_connections=MAX_KEEPALIVE),
            ),
            lambda pool, key: openai.AsyncOpenAI(
                api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=pool,
            ),
            lambda pool: pool.aclose(), size=cache_size,
        )

    def _client(self, api_key: str | None) -> openai.AsyncOpenAI:
        if not api_key:
            if self.key_required:
                raise errors.ProviderAuthFailed(f"no credential for {self.name}",
                                                provider=self.name)
            api_key = "no-key"
        return self._clients.get(api_key)

    def _params(self, request: ChatRequest, model: str) -> dict[str, Any]:
        params = openai_wire.drop_none({
            "model": model,
            "messages": openai_wire.messages(request),
            "tools": openai_wire.tools(request),
            "tool_choice": openai_wire.tool_choice(request),
            "response_format": openai_wire.response_format(request),
            "temperature": request.temperature,
            self.max_tokens_param: request.max_tokens,
            "stop": request.stop,
            "seed": request.seed,
            "user": request.user,
        })
        for name in self.drop_params:
            params.pop(name, None)
        return params

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
        params = self._params(request, model)
        if self.stream_usage:
            params["stream_options"] = {"include_usage": True}
        state = openai_wire.StreamState()
        try:
            stream = await client.chat.completions.create(stream=True, **params)
            try:
                async for chunk in stream:
                    with errors.parsing(self.name):
                        delta = state.feed(chunk)
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
        if not self.supports_embeddings:
            raise errors.unsupported(self.name, "embeddings")
        client = self._client(api_key)
        try:
            response = await client.embeddings.create(model=model, input=inputs,
                                                      encoding_format="float")
        except Exception as exc:
            mapped = _map_error(self.name, exc)
            if mapped is None:
                raise
            raise mapped from exc
        with errors.parsing(self.name):
            data = sorted(response.data, key=lambda d: d.index)
            vectors = [list(d.embedding) for d in data]
            tokens = response.usage.prompt_tokens if response.usage else 0
        return EmbeddingResult(vectors=vectors, usage=Usage(input_tokens=tokens),
                               provider=self.name, model=model)

    async def aclose(self) -> None:
        await self._clients.aclose()
