"""The model <-> tools loop, for whole answers and for streams.

Each model turn goes through the fallback chain; once a candidate has answered, later turns
start from it (a conversation does not hop back to a model that just failed). The loop ends
when the model stops calling tools, calls a tool the caller runs itself (declared without a
URL: its calls are returned), or after `tool_max_depth` rounds of tools.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from services.chat.attempts import Attempt
from services.chat.routing import Call, Candidate, complete, open_stream
from services.chat.schemas import ChatJobPayload
from services.errors import Permanent, PlatformError, Retryable
from services.providers.pricing import cost_usd
from services.providers.types import (
    ChatRequest,
    ChatResult,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)

_REQUEST_FIELDS = tuple(ChatRequest.model_fields)


def as_request(payload: ChatJobPayload, messages: list[Message] | None = None) -> ChatRequest:
    """The provider-facing part of a payload (routing, cache and metadata left out)."""
    values = {name: getattr(payload, name) for name in _REQUEST_FIELDS}
    if messages is not None:
        values["messages"] = messages
    return ChatRequest.model_construct(**values)


@dataclass
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tool_rounds: int = 0

    def add(self, result: ChatResult) -> None:
        self.input_tokens += result.usage.input_tokens
        self.output_tokens += result.usage.output_tokens
        self.cost_usd += result.cost_usd or cost_usd(result.provider, result.model, result.usage)

    def answer(self, last: ChatResult) -> dict[str, Any]:
        """The cacheable answer: what a repeat of the request may be given."""
        return {
            "content": last.content,
            "tool_calls": [c.model_dump() for c in last.tool_calls],
            "finish_reason": last.finish_reason,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "total_tokens": self.input_tokens + self.output_tokens},
            "provider": last.provider,
            "model": last.model,
            "cost_usd": round(self.cost_usd, 8),
            "tool_rounds": self.tool_rounds,
        }


def _next_turn(
    call: Call, payload: ChatJobPayload, totals: Totals, result: ChatResult
) -> bool:
    tools = {t.name: t for t in payload.tools}
    return bool(
        result.tool_calls and totals.tool_rounds < call.runtime.settings.chat.tool_max_depth
        and call.runtime.tools.runnable(result.tool_calls, tools)
    )


async def _run_tools(
    call: Call, payload: ChatJobPayload, messages: list[Message], result: ChatResult,
    totals: Totals,
) -> None:
    tools = {t.name: t for t in payload.tools}
    totals.tool_rounds += 1
    messages.append(Message(role="assistant", content=result.content or None,
                            tool_calls=result.tool_calls))
    messages.extend(await call.runtime.tools.run(result.tool_calls, tools))


async def converse(
    call: Call, payload: ChatJobPayload, candidates: list[Candidate]
) -> dict[str, Any]:
    """Run the request (and its tool rounds) to a final answer."""
    messages = list(payload.messages)
    totals = Totals()
    while True:
        result, index = await complete(call, candidates, as_request(payload, messages))
        candidates = candidates[index:]
        totals.add(result)
        if not _next_turn(call, payload, totals, result):
            return totals.answer(result)
        await _run_tools(call, payload, messages, result, totals)


@dataclass
class StreamOutcome:
    """Filled in by `converse_stream` as it finishes: the final answer."""

    answer: dict[str, Any] | None = None


async def _stream_turn(
    call: Call, candidates: list[Candidate], request: ChatRequest,
    sink: list[tuple[ChatResult, int]],
) -> AsyncIterator[StreamChunk]:
    """Stream one model turn; `sink` receives the assembled result and the index of the
    candidate that answered."""
    opened = await open_stream(call, candidates, request)
    cand = opened.candidate
    parts: list[str] = []
    calls: dict[str, ToolCall] = {}
    finish, usage = "stop", None
    chunk = opened.first
    try:
        while chunk is not None:
            parts.append(chunk.delta)
            calls.update({c.id: c for c in chunk.tool_calls})
            finish = chunk.finish_reason or finish
            usage = chunk.usage or usage
            yield chunk
            async with asyncio.timeout(max(call.remaining_s(), 0.001)):
                chunk = await anext(opened.rest, None)
    except (PlatformError, TimeoutError) as exc:
        error = exc if isinstance(exc, PlatformError) else Retryable("deadline", code="timeout")
        await call.runtime.breaker.record(opened.ticket, ok=not isinstance(error, Retryable))
        call.attempts.append(Attempt.failed(cand.provider, cand.model, error, 0.0))
        raise Permanent(f"the stream from {cand.provider} broke off: {error.message}",
                        code="stream_interrupted") from exc
    finally:
        closer = getattr(opened.rest, "aclose", None)
        if closer is not None:
            await closer()
    await call.runtime.breaker.record(opened.ticket, ok=True)
    tool_calls: list[ToolCall] = list(calls.values())
    sink.append((ChatResult(
        content="".join(parts), tool_calls=tool_calls,
        finish_reason="tool_calls" if tool_calls and finish == "stop" else finish,
        usage=usage or Usage(),
        provider=cand.provider, model=cand.model,
    ), opened.index))


async def converse_stream(
    call: Call, payload: ChatJobPayload, candidates: list[Candidate], outcome: StreamOutcome
) -> AsyncIterator[StreamChunk]:
    """Stream every model turn's chunks; tool rounds run between turns."""
    messages = list(payload.messages)
    totals = Totals()
    while True:
        sink: list[tuple[ChatResult, int]] = []
        async for chunk in _stream_turn(call, candidates, as_request(payload, messages), sink):
            yield chunk
        result, index = sink[0]
        candidates = candidates[index:]
        totals.add(result)
        if not _next_turn(call, payload, totals, result):
            outcome.answer = totals.answer(result)
            return
        await _run_tools(call, payload, messages, result, totals)
