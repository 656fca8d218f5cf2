"""OpenAI Chat Completions request shapes, and their translation to the platform's own.

Unknown request fields are ignored, as OpenAI-compatible gateways do, so SDK releases that
add parameters keep working. `variables` (sent with the SDK's `extra_body`) fills a
bridge's prompt placeholders.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.bounded import Bounded
from services.errors import Invalid
from services.providers.types import ContentPart, HttpTool, Message, ResponseFormat, ToolCall


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionDef(_Lenient):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolDef(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionDef


class FunctionCall(_Lenient):
    name: str
    arguments: str = ""


class ToolCallIn(_Lenient):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ImageUrl(_Lenient):
    url: str


class PartIn(_Lenient):
    type: str
    text: str | None = None
    image_url: ImageUrl | str | None = None


class MessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[PartIn] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class StreamOptions(_Lenient):
    include_usage: bool = Field(default=False, strict=True)


class ChatCompletionRequest(_Lenient, Bounded):
    model: str = Field(min_length=1, max_length=300)
    messages: list[MessageIn] = Field(min_length=1, max_length=1000)
    # Strict scalars: `false` is not a temperature, `"1"` not a count.
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    max_tokens: int | None = Field(default=None, gt=0, strict=True)
    max_completion_tokens: int | None = Field(default=None, gt=0, strict=True)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, strict=True)
    user: str | None = None
    n: int | None = Field(default=None, ge=1, le=1, strict=True)
    tools: list[ToolDef] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    # Extensions (sent with `extra_body`): a bridge's prompt variables and thread.
    variables: dict[str, Any] = Field(default_factory=dict)
    thread_id: str | None = Field(default=None, max_length=200)

    def chat_messages(self) -> list[Message]:
        return [_message(m) for m in self.messages]

    def chat_tools(self) -> list[HttpTool]:
        # No URL: the model's calls to these tools are returned to the caller, who runs them.
        return [HttpTool(name=t.function.name, description=t.function.description,
                         parameters=t.function.parameters) for t in self.tools or []]

    def overrides(self) -> dict[str, Any]:
        """The sampling values this request sets (they win over a bridge's defaults)."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "stop": stop, "seed": self.seed, "user": self.user, "tool_choice": self.tool_choice,
            "response_format": _response_format(self.response_format),
        }


def _part(part: PartIn) -> ContentPart:
    if part.type == "text":
        return ContentPart(type="text", text=part.text or "")
    if part.type == "image_url" and part.image_url is not None:
        url = part.image_url if isinstance(part.image_url, str) else part.image_url.url
        return ContentPart(type="image_url", image_url=url)
    raise Invalid(f"content part type {part.type!r} is not supported", field="messages")


def _message(m: MessageIn) -> Message:
    content: str | list[ContentPart] | None
    if isinstance(m.content, list):
        content = [_part(p) for p in m.content]
    else:
        content = m.content
    calls = [ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
             for c in m.tool_calls or []] or None
    role = "system" if m.role == "developer" else m.role
    return Message(role=role, content=content, tool_calls=calls, tool_call_id=m.tool_call_id,
                   name=m.name)


def _response_format(raw: dict[str, Any] | None) -> ResponseFormat | None:
    if raw is None:
        return None
    kind = raw.get("type", "text")
    if kind not in ("text", "json_object", "json_schema"):
        raise Invalid(f"response_format type {kind!r} is not supported", field="response_format")
    return ResponseFormat(type=kind, json_schema=raw.get("json_schema"))
