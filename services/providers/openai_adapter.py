"""OpenAI and every OpenAI-compatible service (OpenRouter, Gemini's OpenAI endpoint,
self-hosted vLLM), told apart by name and base URL.

Two transports speak the same wire: `aiohttp` (the default: one pool, orjson, no SDK
objects per call; see `openai_http` for the measured reason) and `sdk` (the official
`openai` SDK). One contract suite runs both against the provider simulator. The Batch API
(files, batches: off the hot path) always goes through the SDK.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import httpx2
import openai
import orjson
from openai.types.chat import ChatCompletion

from services.providers import common, errors, openai_http, openai_wire
from services.providers.batch_api import BatchLine, discounted
from services.providers.clients import ResponseObserver, SdkClients
from services.providers.types import ChatRequest, ChatResult, EmbeddingResult, StreamChunk, Usage


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `openai` SDK exceptions become platform errors (None: not ours)."""
    return common.map_stainless_error(openai, httpx2, provider, exc)


Transport = Literal["aiohttp", "sdk"]


class OpenAIAdapter:
    """`name` is the registry name (openai, openrouter, gemini, vllm, ...). Keyless
    self-hosted services set `key_required=False`."""

    def __init__(
        self, name: str = "openai", *, base_url: str | None = None, timeout_s: float = 120.0,
        connect_timeout_s: float = 5.0, cache_size: int = 64, key_required: bool = True,
        max_tokens_param: str = "max_tokens", stream_usage: bool = True,
        drop_params: frozenset[str] = frozenset(), supports_embeddings: bool = True,
        on_response: ResponseObserver | None = None, transport: Transport = "aiohttp",
        supports_batches: bool = False,
    ) -> None:
        self.name = name
        self.transport = transport
        # OpenAI's own Batch API (services/providers/batch_api.py); compatible services lack it.
        self.supports_batches = supports_batches
        self.base_url = base_url
        self.key_required = key_required
        # OpenAI's own API wants max_completion_tokens (o-series reject max_tokens);
        # compatible services mostly only know max_tokens.
        self.max_tokens_param = max_tokens_param
        self.stream_usage = stream_usage
        self.drop_params = drop_params
        self.supports_embeddings = supports_embeddings
        self._clients: SdkClients[httpx2.AsyncClient, openai.AsyncOpenAI] = (
            common.stainless_clients(openai, httpx2, openai.AsyncOpenAI, base_url=base_url,
                                     timeout_s=timeout_s, connect_timeout_s=connect_timeout_s,
                                     cache_size=cache_size, provider=name, on_response=on_response))
        self._http = openai_http.OpenAIHttp(name, base_url=base_url, timeout_s=timeout_s,
                                            connect_timeout_s=connect_timeout_s,
                                            on_response=on_response)

    def _key(self, api_key: str | None) -> str:
        return common.credential(self.name, api_key, required=self.key_required)

    def _client(self, api_key: str | None) -> openai.AsyncOpenAI:
        return self._clients.get(self._key(api_key))

    def _params(self, request: ChatRequest, model: str) -> dict[str, Any]:
        params = openai_wire.chat_params(request, model, max_tokens_param=self.max_tokens_param)
        for name in self.drop_params:
            params.pop(name, None)
        return params

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        params = self._params(request, model)
        if self.transport == "aiohttp":
            key = self._key(api_key)
            started = time.perf_counter()
            with common.mapped_errors(self.name, openai_http.map_error):
                response = await self._http.post("/chat/completions", key, params)
        else:
            client = self._client(api_key)
            started = time.perf_counter()
            with common.mapped_errors(self.name, _map_error):
                response = await client.chat.completions.create(**params)
        return common.openai_chat_result(response, provider=self.name, model=model,
                                         started=started)

    def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        async def open_stream() -> Any:
            params = self._params(request, model)
            if self.stream_usage:
                params["stream_options"] = {"include_usage": True}
            if self.transport == "aiohttp":
                params["stream"] = True
                return await self._http.stream("/chat/completions", self._key(api_key), params)
            return await self._client(api_key).chat.completions.create(stream=True, **params)

        map_error = openai_http.map_error if self.transport == "aiohttp" else _map_error
        return common.openai_stream(self.name, map_error, open_stream)

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        if not self.supports_embeddings:
            raise errors.unsupported(self.name, "embeddings")
        params = {"model": model, "input": inputs, "encoding_format": "float"}
        if self.transport == "aiohttp":
            with common.mapped_errors(self.name, openai_http.map_error):
                response = await self._http.post("/embeddings", self._key(api_key), params)
        else:
            with common.mapped_errors(self.name, _map_error):
                response = await self._client(api_key).embeddings.create(**params)  # type: ignore[arg-type]
        field = openai_wire.field
        with errors.parsing(self.name):
            data = sorted(field(response, "data"), key=lambda d: field(d, "index"))
            vectors = [list(field(d, "embedding")) for d in data]
            tokens = field(field(response, "usage"), "prompt_tokens") or 0
        return EmbeddingResult(vectors=vectors, usage=Usage(input_tokens=tokens),
                               provider=self.name, model=model)

    # -- Batch API -----------------------------------------------------------------------

    async def batch_submit(self, items: list[tuple[str, ChatRequest]], *, model: str, api_key: str | None) -> str:
        """One JSONL file of chat.completions calls, then a batch over it (24 h, the only window)."""
        client = self._client(api_key)
        lines = b"".join(orjson.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                                       "body": self._params(request, model)}) + b"\n" for cid, request in items)
        with common.mapped_errors(self.name, _map_error):
            uploaded = await client.files.create(file=("batch.jsonl", lines), purpose="batch")
            batch = await client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                                completion_window="24h")
        return batch.id

    async def batch_ended(self, batch_id: str, *, api_key: str | None) -> bool:
        with common.mapped_errors(self.name, _map_error):
            batch = await self._client(api_key).batches.retrieve(batch_id)
        return batch.status in ("completed", "failed", "expired", "cancelled")

    async def batch_results(self, batch_id: str, *, model: str, api_key: str | None) -> list[BatchLine]:
        """The output file's answers and the error file's failures, per custom id."""
        client = self._client(api_key)
        out: list[BatchLine] = []
        with common.mapped_errors(self.name, _map_error):
            batch = await client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    content = await client.files.content(file_id)
                    out += [self._batch_line(orjson.loads(raw), model) for raw in content.content.splitlines()
                            if raw.strip()]
        return out

    def _batch_line(self, line: dict[str, Any], model: str) -> BatchLine:
        cid = str(line.get("custom_id"))
        response = line.get("response") or {}
        if response.get("status_code") == 200 and not line.get("error"):
            completion = ChatCompletion.model_validate(response["body"])
            return BatchLine(cid, discounted(common.openai_chat_result(
                completion, provider=self.name, model=model, started=time.perf_counter())))
        error = line.get("error") or (response.get("body") or {}).get("error") or {}
        return BatchLine(cid, error_code=str(error.get("code") or "errored"),
                         error_message=str(error.get("message") or "the provider's batch failed this request"))

    async def batch_cancel(self, batch_id: str, *, api_key: str | None) -> None:
        with common.mapped_errors(self.name, _map_error):
            await self._client(api_key).batches.cancel(batch_id)

    async def aclose(self) -> None:
        await self._clients.aclose()
        await self._http.aclose()
