"""Anthropic's Messages API through the official `anthropic` SDK.

Differences from the OpenAI shape handled here: the system prompt is a separate parameter
(system-role messages are folded into it); `max_tokens` is required (the configured
default when the request sets none); tool results travel as `tool_result` blocks in a
user turn (consecutive ones merged, as the API requires); `user` becomes
`metadata.user_id`. `temperature` and `seed` are dropped: the Messages API of the SDK in
use (anthropic 2.x) has no sampling parameters at all, and an unknown field is a 400.

JSON mode is a forced tool call: the request gets one tool, `json_response`, whose input
schema is the requested schema (any object for json_object), and `tool_choice` names it;
the tool's input is the answer. Anthropic documents this as its JSON mode, it works on
every Claude model (native structured outputs exist only on recent ones), and the input is
always a parsed JSON object. When the request also has its own tools, the schema is given
as a system instruction instead, since forcing one tool would hide the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2

from services.providers import common, errors, openai_wire
from services.providers.batch_api import BatchLine, discounted
from services.providers.clients import ResponseObserver, SdkClients
from services.providers.types import (
    ChatRequest,
    ChatResult,
    ContentPart,
    EmbeddingResult,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)

JSON_TOOL = "json_response"
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                 "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop"}


def _map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place `anthropic` SDK exceptions become platform errors (None: not ours)."""
    return common.map_stainless_error(anthropic, httpx2, provider, exc)


def _image(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                            "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: str | list[ContentPart] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out = []
    for part in content:
        if part.type == "text" and part.text:
            out.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and part.image_url:
            out.append(_image(part.image_url))
    return out


def _tool_input(arguments: str) -> Any:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"value": value}


def _turn(m: Message) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        return "user", [{"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                         "content": openai_wire.text_of(m.content)}]
    blocks = _blocks(m.content)
    if m.role == "assistant":
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c.arguments)}
                   for c in m.tool_calls or ()]
    return m.role, blocks


def build_params(request: ChatRequest, model: str, default_max_tokens: int) -> tuple[dict[str, Any], bool]:
    """The `messages.create` keyword arguments, and whether JSON mode uses the forced tool."""
    system = [request.system] if request.system else []
    turns: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            system.append(openai_wire.text_of(m.content))
            continue
        role, blocks = _turn(m)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # the API wants alternating turns
        else:
            turns.append({"role": role, "content": blocks})
    params: dict[str, Any] = {"model": model, "messages": turns,
                              "max_tokens": request.max_tokens or default_max_tokens}
    tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
             for t in request.tools]
    choice = openai_wire.tool_name_choice(request.tool_choice) if tools else None
    fmt = request.response_format
    json_tool = False
    if fmt is not None and fmt.type != "text":
        schema = openai_wire.bare_schema(fmt) if fmt.type == "json_schema" else {"type": "object"}
        if tools:
            system.append("Answer with a single JSON value and nothing else, matching this "
                          f"JSON schema: {json.dumps(schema)}")
        else:
            json_tool = True
            tools = [{"name": JSON_TOOL, "description": "Give the answer as JSON.",
                      "input_schema": schema}]
            choice = JSON_TOOL
    if tools:
        params["tools"] = tools
        if choice == "none":
            params["tool_choice"] = {"type": "none"}
        elif choice == "required":
            params["tool_choice"] = {"type": "any"}
        elif choice:
            params["tool_choice"] = {"type": "tool", "name": choice}
    if system:
        params["system"] = "\n\n".join(system)
    if request.stop:
        params["stop_sequences"] = request.stop
    if request.user:
        params["metadata"] = {"user_id": request.user}
    return params, json_tool


def _usage(raw: Any) -> Usage:
    cached = (getattr(raw, "cache_read_input_tokens", 0) or 0) + \
        (getattr(raw, "cache_creation_input_tokens", 0) or 0)
    return Usage(input_tokens=(raw.input_tokens or 0) + cached, output_tokens=raw.output_tokens or 0)


class AnthropicAdapter:
    def __init__(self, name: str = "anthropic", *, base_url: str | None = None,
                 timeout_s: float = 120.0, connect_timeout_s: float = 5.0,
                 cache_size: int = 64, default_max_tokens: int = 1024,
                 on_response: ResponseObserver | None = None) -> None:
        self.name = name
        self.base_url = base_url
        self.default_max_tokens = default_max_tokens
        # Message Batches (services/providers/batch_api.py).
        self.supports_batches = True
        self._clients: SdkClients[httpx2.AsyncClient, anthropic.AsyncAnthropic] = (
            common.stainless_clients(anthropic, httpx2, anthropic.AsyncAnthropic,
                                     base_url=base_url, timeout_s=timeout_s,
                                     connect_timeout_s=connect_timeout_s, cache_size=cache_size,
                                     provider=name, on_response=on_response))

    def _client(self, api_key: str | None) -> anthropic.AsyncAnthropic:
        return self._clients.get(common.credential(self.name, api_key))

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        client = self._client(api_key)
        params, json_tool = build_params(request, model, self.default_max_tokens)
        started = time.perf_counter()
        with common.mapped_errors(self.name, _map_error):
            response = await client.messages.create(**params)
        return self._result(response, model, json_tool=json_tool, started=started)

    def _result(self, response: Any, model: str, *, json_tool: bool, started: float) -> ChatResult:
        """A Message (from `messages.create` or a batch's result) as the platform's result."""
        with errors.parsing(self.name):
            texts, calls = [], []
            for block in response.content:
                if block.type == "text":
                    texts.append(block.text)
                elif block.type == "tool_use":
                    if json_tool and block.name == JSON_TOOL:
                        texts.append(json.dumps(block.input))
                    else:
                        calls.append(ToolCall(id=block.id, name=block.name,
                                              arguments=json.dumps(block.input)))
            finish = _STOP_REASONS.get(str(response.stop_reason), str(response.stop_reason))
            if json_tool and finish == "tool_calls":
                finish = "stop"
            return common.chat_result(
                content="".join(texts) if texts else None, tool_calls=calls,
                finish_reason=finish, usage=_usage(response.usage), provider=self.name,
                model=model, started=started,
            )

    # -- Message Batches -----------------------------------------------------------------

    async def batch_submit(self, items: list[tuple[str, ChatRequest]], *, model: str, api_key: str | None) -> str:
        requests: list[Any] = [{"custom_id": cid, "params": build_params(request, model, self.default_max_tokens)[0]}
                               for cid, request in items]
        with common.mapped_errors(self.name, _map_error):
            batch = await self._client(api_key).messages.batches.create(requests=requests)
        return batch.id

    async def batch_ended(self, batch_id: str, *, api_key: str | None) -> bool:
        with common.mapped_errors(self.name, _map_error):
            batch = await self._client(api_key).messages.batches.retrieve(batch_id)
        return batch.processing_status == "ended"

    async def batch_results(self, batch_id: str, *, model: str, api_key: str | None) -> list[BatchLine]:
        """The results stream (JSONL): succeeded -> the answer; errored, canceled, expired -> that code."""
        out: list[BatchLine] = []
        with common.mapped_errors(self.name, _map_error):
            async for line in await self._client(api_key).messages.batches.results(batch_id):
                result = line.result
                if result.type == "succeeded":
                    # JSON mode's forced tool is the only tool by that name: its input is the answer.
                    json_tool = any(b.type == "tool_use" and b.name == JSON_TOOL for b in result.message.content)
                    out.append(BatchLine(line.custom_id, discounted(self._result(
                        result.message, model, json_tool=json_tool, started=time.perf_counter()))))
                else:
                    message = getattr(getattr(getattr(result, "error", None), "error", None), "message", None)
                    out.append(BatchLine(line.custom_id, error_code=result.type,
                                         error_message=message or f"the provider's batch: {result.type}"))
        return out

    async def batch_cancel(self, batch_id: str, *, api_key: str | None) -> None:
        with common.mapped_errors(self.name, _map_error):
            await self._client(api_key).messages.batches.cancel(batch_id)

    async def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        client = self._client(api_key)
        params, json_tool = build_params(request, model, self.default_max_tokens)
        # index -> [id, name, partial json]
        calls: dict[int, list[str]] = {}
        usage = Usage()
        finish: str | None = None
        stopped = False
        with common.mapped_errors(self.name, _map_error):
            stream = await client.messages.create(stream=True, **params)
            try:
                async for event in stream:
                    delta = ""
                    with errors.parsing(self.name):
                        kind = event.type
                        if kind == "content_block_delta":
                            d = event.delta
                            if d.type == "text_delta":
                                delta = d.text
                            elif d.type == "input_json_delta":
                                if json_tool:
                                    delta = d.partial_json
                                else:
                                    calls[event.index][2] += d.partial_json
                        elif kind == "content_block_start":
                            block = event.content_block
                            if block.type == "tool_use" and not json_tool:
                                calls[event.index] = [block.id, block.name, ""]
                        elif kind == "message_start":
                            usage = _usage(event.message.usage)
                        elif kind == "message_delta":
                            finish = event.delta.stop_reason or finish
                            usage = Usage(input_tokens=usage.input_tokens,
                                          output_tokens=event.usage.output_tokens or 0)
                        elif kind == "message_stop":
                            stopped = True
                    if delta:
                        yield StreamChunk(delta=delta)
            finally:
                await stream.close()
            if not stopped:
                raise errors.bad_response(self.name, "stream ended before message_stop")
        reason = _STOP_REASONS.get(str(finish), str(finish))
        if json_tool and reason == "tool_calls":
            reason = "stop"
        tool_calls = [ToolCall(id=c[0], name=c[1], arguments=c[2] or "{}")
                      for _, c in sorted(calls.items())]
        yield StreamChunk(tool_calls=tool_calls, finish_reason=reason, usage=usage)

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        raise errors.unsupported(self.name, "embeddings")

    async def aclose(self) -> None:
        await self._clients.aclose()
