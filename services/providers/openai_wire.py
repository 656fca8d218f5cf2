"""ChatRequest <-> the OpenAI Chat Completions wire format, shared by the OpenAI,
OpenAI-compatible, Groq and Mistral adapters (Mistral's chat API has the same shapes).

JSON mode: `ResponseFormat.json_schema` may be the bare JSON schema or OpenAI's wrapper
`{"name", "schema", "strict"}`; both are sent as the wrapper.
"""

from __future__ import annotations

from typing import Any

from services.providers.types import (
    ChatRequest,
    ContentPart,
    Message,
    ResponseFormat,
    StreamChunk,
    ToolCall,
    Usage,
)


def text_of(content: str | list[ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.text or "" for p in content if p.type == "text")


def _content(content: str | list[ContentPart] | None, *, image_url_as_str: bool) -> Any:
    if content is None or isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.type == "text":
            parts.append({"type": "text", "text": part.text or ""})
        elif part.image_url:
            url: Any = part.image_url if image_url_as_str else {"url": part.image_url}
            parts.append({"type": "image_url", "image_url": url})
    return parts


def message(m: Message, *, image_url_as_str: bool = False) -> dict[str, Any]:
    if m.role == "tool":
        out: dict[str, Any] = {"role": "tool", "tool_call_id": m.tool_call_id or "",
                               "content": text_of(m.content)}
        if m.name:
            out["name"] = m.name
        return out
    if m.role == "system":
        return {"role": "system", "content": text_of(m.content)}
    out = {"role": m.role, "content": _content(m.content, image_url_as_str=image_url_as_str)}
    if m.role == "assistant" and m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.name and m.role == "user":
        out["name"] = m.name
    return out


def messages(request: ChatRequest, *, image_url_as_str: bool = False) -> list[dict[str, Any]]:
    out = [{"role": "system", "content": request.system}] if request.system else []
    out.extend(message(m, image_url_as_str=image_url_as_str) for m in request.messages)
    return out


def tools(request: ChatRequest) -> list[dict[str, Any]] | None:
    if not request.tools:
        return None
    return [{"type": "function", "function": {
        "name": t.name, "description": t.description, "parameters": t.parameters,
    }} for t in request.tools]


def tool_name_choice(choice: str | dict[str, Any] | None) -> str | None:
    """The normalized tool choice: None (auto), "none", "required", or a tool name."""
    if choice is None or choice == "auto":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if name:
            return str(name)
        kind = choice.get("type")
        return "required" if kind in ("any", "required") else ("none" if kind == "none" else None)
    if choice in ("any", "required"):
        return "required"
    return choice  # "none" or a tool name


def tool_choice(request: ChatRequest, *, required: str = "required") -> Any:
    if not request.tools:
        return None
    choice = tool_name_choice(request.tool_choice)
    if choice is None:
        return None
    if choice == "none":
        return "none"
    if choice == "required":
        return required
    return {"type": "function", "function": {"name": choice}}


def json_schema_wrapper(fmt: ResponseFormat) -> dict[str, Any]:
    schema = fmt.json_schema or {"type": "object"}
    if "schema" in schema and ("name" in schema or "strict" in schema):
        return {"name": "response", **schema}
    return {"name": str(schema.get("title") or "response"), "schema": schema}


def response_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": json_schema_wrapper(fmt)}


def chat_params(request: ChatRequest, model: str, *,
                max_tokens_param: str = "max_tokens") -> dict[str, Any]:
    """The `chat.completions.create` keyword arguments (unset ones left out)."""
    return drop_none({
        "model": model,
        "messages": messages(request),
        "tools": tools(request),
        "tool_choice": tool_choice(request),
        "response_format": response_format(request),
        "temperature": request.temperature,
        max_tokens_param: request.max_tokens,
        "stop": request.stop,
        "seed": request.seed,
        "user": request.user,
    })


def bare_schema(fmt: ResponseFormat) -> dict[str, Any]:
    """The JSON schema itself, whichever form the request used."""
    schema = fmt.json_schema or {"type": "object"}
    if "schema" in schema and ("name" in schema or "strict" in schema):
        inner: dict[str, Any] = schema["schema"]
        return inner
    return schema


def drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def field(obj: Any, name: str) -> Any:
    """One field of an answer, whether an SDK object or decoded JSON (the aiohttp transport
    reads the wire without building SDK objects)."""
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    return Usage(input_tokens=field(raw, "prompt_tokens") or 0,
                 output_tokens=field(raw, "completion_tokens") or 0)


def tool_calls(raw: Any) -> list[ToolCall]:
    out = []
    for call in raw or ():
        fn = field(call, "function")
        args = field(fn, "arguments")
        out.append(ToolCall(id=field(call, "id") or "", name=field(fn, "name"),
                            arguments=args if isinstance(args, str) else _dumps(args)))
    return out


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value)


class StreamState:
    """Folds OpenAI-style chunks into StreamChunks: text deltas pass straight through;
    tool-call fragments are assembled by index and delivered whole on the final chunk."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def feed(self, chunk: Any) -> str:
        """Take one chunk (SDK object or decoded JSON); returns its text delta ("" if none)."""
        raw_usage = field(chunk, "usage")
        if raw_usage is not None:
            self.usage = usage(raw_usage)
        choices = field(chunk, "choices")
        if not choices:
            return ""
        choice = choices[0]
        delta = field(choice, "delta")
        for call in field(delta, "tool_calls") or ():
            index = field(call, "index") or 0
            slot = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            if field(call, "id"):
                slot["id"] = field(call, "id")
            fn = field(call, "function")
            if fn is not None:
                if field(fn, "name"):
                    slot["name"] = field(fn, "name")
                args = field(fn, "arguments")
                if args:
                    slot["arguments"] += args if isinstance(args, str) else _dumps(args)
        finish_reason = field(choice, "finish_reason")
        if finish_reason:
            self.finish_reason = str(finish_reason)
        content = field(delta, "content")
        return content if isinstance(content, str) else ""

    def final(self) -> StreamChunk:
        calls = [ToolCall(**self.calls[i]) for i in sorted(self.calls)]
        return StreamChunk(tool_calls=calls, finish_reason=self.finish_reason,
                           usage=self.usage or Usage())
