"""OpenAI Chat Completions and Embeddings, also spoken (with their own error bodies) under
the Groq, OpenRouter, Gemini-compatible and vLLM prefixes, and reused by Mistral."""

from __future__ import annotations

import base64
import hashlib
import itertools
import struct
import time
from typing import Any

import orjson

from services.providers.simulator.answers import Answer, Prompt, pieces, words

_ids = itertools.count(1)


def _text(content: Any) -> tuple[str, int]:
    """(text, image count) of a message's content (string or list of parts)."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text") or "")
        elif kind in ("image_url", "input_image", "image"):
            images += 1
    return " ".join(texts), images


def parse_prompt(body: dict[str, Any]) -> Prompt:
    messages = body.get("messages") or []
    prompt = Prompt()
    total = 0
    for message in messages:
        total += words(_text(message.get("content"))[0]) + 1
    prompt.input_words = total
    if messages and messages[-1].get("role") == "tool":
        results = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            results.append(_text(message.get("content"))[0])
        prompt.last_role = "tool"
        prompt.text = "; ".join(reversed(results))
    else:
        for message in reversed(messages):
            if message.get("role") == "user":
                prompt.text, prompt.images = _text(message.get("content"))
                break
    for tool in body.get("tools") or ():
        fn = tool.get("function") or {}
        prompt.tools.append((fn.get("name", ""), fn.get("parameters") or {}))
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        prompt.tool_choice = (choice.get("function") or {}).get("name")
    elif choice in ("required", "any"):
        prompt.tool_choice = "any"
    elif choice == "none":
        prompt.tool_choice = "none"
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        prompt.json_schema = {}
    elif fmt.get("type") == "json_schema":
        prompt.json_schema = (fmt.get("json_schema") or {}).get("schema") or {}
    return prompt


def tool_call_id(n: int) -> str:
    return f"call_{n:024d}"


def _usage(ans: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": ans.input_tokens,
        "completion_tokens": ans.output_tokens,
        "total_tokens": ans.input_tokens + ans.output_tokens,
    }


def completion(ans: Answer, model: str, *, call_id: Any = tool_call_id) -> bytes:
    n = next(_ids)
    message: dict[str, Any] = {"role": "assistant", "content": ans.text}
    if ans.tool_name:
        message["tool_calls"] = [{
            "id": call_id(n), "type": "function",
            "function": {"name": ans.tool_name, "arguments": ans.tool_args},
        }]
    return orjson.dumps({
        "id": f"chatcmpl-sim{n}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0, "message": message, "logprobs": None,
            "finish_reason": "tool_calls" if ans.tool_name else "stop",
        }],
        "usage": _usage(ans),
    })


def stream_events(
    ans: Answer, model: str, *, include_usage: bool, usage_in_last: bool = False,
    groq: bool = False, call_id: Any = tool_call_id, whole_tool_calls: bool = False,
) -> list[bytes]:
    """The SSE events of one answer, `[DONE]` included. `usage_in_last` puts usage on the
    finishing chunk (Mistral); `include_usage` adds OpenAI's separate usage chunk;
    `whole_tool_calls` sends each tool call in one delta, as Mistral does."""
    n = next(_ids)
    head = {"id": f"chatcmpl-sim{n}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], **extra}
        return b"data: " + orjson.dumps(body) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    if ans.tool_name:
        events.append(chunk({"tool_calls": [{
            "index": 0, "id": call_id(n), "type": "function",
            "function": {"name": ans.tool_name,
                         "arguments": ans.tool_args if whole_tool_calls else ""},
        }]}))
        for piece in [] if whole_tool_calls else pieces(ans.tool_args):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        finish = "tool_calls"
    else:
        for piece in pieces(ans.text or ""):
            events.append(chunk({"content": piece}))
        finish = "stop"
    last_extra: dict[str, Any] = {}
    if usage_in_last:
        last_extra["usage"] = _usage(ans)
    if groq:
        last_extra["x_groq"] = {"id": f"req_sim{n}", "usage": _usage(ans)}
    events.append(chunk({}, finish, **last_extra))
    if include_usage:
        events.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": _usage(ans)})
                      + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def _vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dims:
        digest += hashlib.sha256(digest).digest()
    return [round(b / 255, 4) for b in digest[:dims]]


def embeddings(body: dict[str, Any], model: str, **extra: Any) -> bytes:
    raw = body.get("input") or []
    inputs = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    dims = int(body.get("dimensions") or 8)
    as_b64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(inputs):
        vec = _vector(text, dims)
        emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if as_b64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(words(t) for t in inputs)
    return orjson.dumps({
        **extra, "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })


# status -> (type, code, message) as OpenAI sends them.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (simulated)."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Permission denied (simulated)."),
    404: ("invalid_request_error", "model_not_found",
          "The model does not exist or you do not have access to it (simulated)."),
    408: ("timeout", None, "Request timed out (simulated)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached (simulated)."),
    500: ("server_error", None, "The server had an error processing your request (simulated)."),
    502: ("server_error", None, "Bad gateway (simulated)."),
    503: ("server_error", "service_unavailable", "The engine is currently overloaded (simulated)."),
}
_CODE_MESSAGES = {
    "context_length_exceeded": "This model's maximum context length is 128000 tokens "
                               "(simulated).",
    "content_policy_violation": "Your request was rejected by the safety system (simulated).",
    "content_filter": "Your request was rejected by the safety system (simulated).",
    "model_not_found": "The model does not exist (simulated).",
}
_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                  503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_parts(status: int, code: str | None) -> tuple[str, str | None, str]:
    kind, default_code, message = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None,
                 f"Error {status} (simulated).")
    )
    if code:
        return kind, code, _CODE_MESSAGES.get(code, message)
    return kind, default_code, message


def error_body(status: int, code: str | None, provider: str) -> bytes:
    kind, code, message = error_parts(status, code)
    if provider == "gemini":
        return orjson.dumps([{"error": {
            "code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }}])
    if provider == "openrouter":
        return orjson.dumps({"error": {"code": status, "message": message,
                                       "metadata": {"error_code": code} if code else {}}})
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None,
                                   "code": code}})
