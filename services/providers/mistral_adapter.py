"""Mistral through its official `mistralai` SDK (Speakeasy-generated: errors are
`MistralError` subclasses carrying status, headers and the raw body; transport errors are
httpx2's own). Retries are off (`retry_config=None`); `user` has no Mistral equivalent and
is dropped; `seed` is `random_seed`; the tool choice "required" is Mistral's "any"."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
from mistralai.client import Mistral
from mistralai.client import errors as mistral_errors

from services.providers import common, errors, openai_wire
from services.providers.clients import (
    MAX_CONNECTIONS,
    MAX_KEEPALIVE,
    SdkClients,
    ssl_context,
)
from services.providers.types import ChatRequest, ChatResult, EmbeddingResult, StreamChunk, Usage


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `mistralai` SDK exceptions become platform errors (None: not ours)."""
    if isinstance(exc, mistral_errors.ResponseValidationError):
        return errors.bad_response(provider, "ResponseValidationError")
    if isinstance(exc, mistral_errors.MistralError):
        try:
            body: Any = json.loads(exc.body) if exc.body else None
        except ValueError:
            body = None
        message, code, kind = errors.body_error_fields(body)
        return errors.from_status(
            provider, exc.status_code, message or exc.body or str(exc), headers=exc.headers,
            error_code=code, error_type=kind,
        )
    if isinstance(exc, httpx2.TimeoutException):
        return errors.timeout(provider)
    if isinstance(exc, httpx2.TransportError | mistral_errors.NoResponseError):
        return errors.connection_error(provider, type(exc).__name__)
    if isinstance(exc, json.JSONDecodeError):
        return errors.bad_response(provider, "JSONDecodeError")
    return None


@dataclass
class _Pools:
    aio: httpx2.AsyncClient
    sync: httpx2.Client

    async def aclose(self) -> None:
        await self.aio.aclose()
        self.sync.close()


class MistralAdapter:
    def __init__(self, name: str = "mistral", *, base_url: str | None = None,
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 cache_size: int = 64) -> None:
        self.name = name
        self.base_url = base_url
        timeout = httpx2.Timeout(timeout_s, connect=connect_timeout_s)
        self._clients: SdkClients[_Pools, Mistral] = SdkClients(
            lambda: _Pools(
                httpx2.AsyncClient(
                    timeout=timeout, follow_redirects=True, verify=ssl_context(),
                    limits=httpx2.Limits(max_connections=MAX_CONNECTIONS,
                                         max_keepalive_connections=MAX_KEEPALIVE),
                ),
                # Never used (the adapter is async), but the SDK builds one when not given.
                httpx2.Client(timeout=timeout, verify=ssl_context()),
            ),
            lambda pools, key: Mistral(
                api_key=key, server_url=base_url, retry_config=None,
                timeout_ms=int(timeout_s * 1000), async_client=pools.aio, client=pools.sync,
            ),
            _Pools.aclose, size=cache_size,
        )

    def _client(self, api_key: str | None) -> Mistral:
        return self._clients.get(common.credential(self.name, api_key))

    @staticmethod
    def _params(request: ChatRequest, model: str) -> dict[str, Any]:
        return openai_wire.drop_none({
            "model": model,
            "messages": openai_wire.messages(request, image_url_as_str=True),
            "tools": openai_wire.tools(request),
            "tool_choice": openai_wire.tool_choice(request, required="any"),
            "response_format": openai_wire.response_format(request),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stop": request.stop,
            "random_seed": request.seed,
        })

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        client = self._client(api_key)
        started = time.perf_counter()
        with common.mapped_errors(self.name, _map_error):
            response = await client.chat.complete_async(**self._params(request, model))
        with errors.parsing(self.name):
            choice = response.choices[0]
            message = choice.message
            content = message.content if message is not None else None
            if isinstance(content, list):  # content chunks: keep the text ones
                content = "".join(getattr(c, "text", "") or "" for c in content)
            return common.chat_result(
                content=content if isinstance(content, str) else None,
                tool_calls=openai_wire.tool_calls(
                    message.tool_calls if message is not None and
                    isinstance(message.tool_calls, list) else None),
                finish_reason=str(choice.finish_reason or "stop").replace("model_length", "length"),
                usage=openai_wire.usage(response.usage), provider=self.name, model=model,
                started=started,
            )

    def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        async def open_stream() -> Any:
            client = self._client(api_key)
            return await client.chat.stream_async(**self._params(request, model))

        return common.openai_stream(self.name, _map_error, open_stream,
                                    feed=lambda state, event: state.feed(event.data),
                                    finish_reasons={"model_length": "length"})

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        client = self._client(api_key)
        with common.mapped_errors(self.name, _map_error):
            response = await client.embeddings.create_async(model=model, inputs=inputs)
        with errors.parsing(self.name):
            data = sorted(response.data, key=lambda d: d.index or 0)
            vectors = [list(d.embedding or ()) for d in data]
            tokens = response.usage.prompt_tokens or 0
        return EmbeddingResult(vectors=vectors, usage=Usage(input_tokens=tokens),
                               provider=self.name, model=model)

    async def aclose(self) -> None:
        await self._clients.aclose()
