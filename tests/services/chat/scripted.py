"""A Provider that follows a script, for tool-loop cases a real model rarely produces on
demand (a tool name that was never declared, endless tool calls). It stands in for the
model, not for an SDK: the tool calls it asks for go to a real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from services.providers.types import (
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)

Script = Callable[[list[Message]], list[ToolCall]]


class ScriptedProvider:
    name = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult:
        self.requests.append(request)
        calls = self.script(request.messages)
        if calls:
            return ChatResult(content=None, tool_calls=calls, finish_reason="tool_calls",
                              provider=self.name, model=model, usage=Usage(input_tokens=1))
        seen = [m.content for m in request.messages if m.role == "tool"]
        return ChatResult(content=f"saw {seen}", provider=self.name, model=model,
                          usage=Usage(input_tokens=1, output_tokens=1))

    async def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]:
        result = await self.complete(request, model=model, api_key=api_key)
        yield StreamChunk(delta=result.content or "", tool_calls=result.tool_calls,
                          finish_reason=result.finish_reason, usage=result.usage)

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult:
        raise NotImplementedError
