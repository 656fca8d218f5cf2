"""The normalized chat and embedding request/result every adapter speaks.

Adapters translate these to and from their SDK's wire format; nothing outside
services/providers/ sees an SDK type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from services.common.bounded import Bounded


class _Strict(BaseModel):
    """A request-side model: an unknown field is a 422 naming it, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ContentPart(_Strict):
    type: Literal["text", "image_url"]
    text: str | None = None
    # data: URLs or https URLs; adapters convert to their provider's image block.
    image_url: str | None = None


class ToolCall(_Strict):
    id: str
    name: str
    # JSON text exactly as the model produced it (it may be invalid JSON).
    arguments: str


class Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class HttpTool(_Strict):
    """A tool the platform executes itself by calling the integrator's HTTP endpoint."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    url: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class ChatRequest(Bounded, _Strict):
    messages: list[Message]
    system: str | None = None
    tools: list[HttpTool] = Field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    max_tokens: int | None = Field(default=None, gt=0, strict=True)
    stop: list[str] | None = None
    seed: int | None = Field(default=None, strict=True)
    user: str | None = None


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ChatResult(BaseModel):
    content: str | None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = Field(default_factory=Usage)
    provider: str
    model: str
    latency_ms: float = 0.0
    cost_usd: float = 0.0


class StreamChunk(BaseModel):
    """One piece of a streamed answer; the last chunk carries finish_reason and usage."""

    delta: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None


class EmbeddingResult(BaseModel):
    vectors: list[list[float]]
    usage: Usage = Field(default_factory=Usage)
    provider: str
    model: str


class Provider(Protocol):
    """One provider's adapter. Credentials arrive per call: never read from a global."""

    name: str

    async def complete(self, request: ChatRequest, *, model: str, api_key: str | None) -> ChatResult: ...

    def stream(
        self, request: ChatRequest, *, model: str, api_key: str | None
    ) -> AsyncIterator[StreamChunk]: ...

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult: ...
