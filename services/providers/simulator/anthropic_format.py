"""Anthropic Messages: request parsing, the message body, the stream's event sequence and
Anthropic's error body (`{"type": "error", "error": {"type", "message"}}`)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from services.providers.simulator.answers import Answer, Prompt, pieces, words

_ids = itertools.count(1)


def _blocks_text(content: Any) -> tuple[str, int]:
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    texts, images = [], 0
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "image":
            images += 1
        elif kind == "tool_result":
            texts.append(_blocks_text(block.get("content"))[0])
    return " ".join(texts), images


def parse_prompt(body: dict[str, Any]) -> Prompt:
    messages = body.get("messages") or []
    prompt = Prompt()
    prompt.input_words = words(_blocks_text(body.get("system"))[0]) + sum(
        words(_blocks_text(m.get("content"))[0]) + 1 for m in messages
    )
    if messages and messages[-1].get("role") == "user":
        content = messages[-1].get("content")
        results = [b for b in content if b.get("type") == "tool_result"] \
            if isinstance(content, list) else []
        if results:
            prompt.last_role = "tool"
            prompt.text = "; ".join(_blocks_text(b.get("content"))[0] for b in results)
        else:
            prompt.text, prompt.images = _blocks_text(content)
    for tool in body.get("tools") or ():
        prompt.tools.append((tool.get("name", ""), tool.get("input_schema") or {}))
    choice = body.get("tool_choice") or {}
    kind = choice.get("type")
    if kind == "tool":
        prompt.tool_choice = choice.get("name")
    elif kind in ("any", "none"):
        prompt.tool_choice = kind
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        prompt.json_schema = fmt.get("schema") or {}
    return prompt


def _block(ans: Answer, n: int) -> dict[str, Any]:
    if ans.tool_name:
        return {"type": "tool_use", "id": f"toolu_sim{n:016d}", "name": ans.tool_name,
                "input": orjson.loads(ans.tool_args)}
    return {"type": "text", "text": ans.text or ""}


def _stop_reason(ans: Answer) -> str:
    return "tool_use" if ans.tool_name else "end_turn"


def message(ans: Answer, model: str) -> bytes:
    n = next(_ids)
    return orjson.dumps({
        "id": f"msg_sim{n:016d}", "type": "message", "role": "assistant", "model": model,
        "content": [_block(ans, n)], "stop_reason": _stop_reason(ans), "stop_sequence": None,
        "usage": {"input_tokens": ans.input_tokens, "output_tokens": ans.output_tokens},
    })


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stream_events(ans: Answer, model: str) -> list[bytes]:
    n = next(_ids)
    events = [_event("message_start", {"type": "message_start", "message": {
        "id": f"msg_sim{n:016d}", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": ans.input_tokens, "output_tokens": 1},
    }})]
    if ans.tool_name:
        start = {**_block(ans, n), "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(ans.tool_args)]
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in pieces(ans.text or "")]
    events.append(_event("content_block_start",
                         {"type": "content_block_start", "index": 0, "content_block": start}))
    events.append(_event("ping", {"type": "ping"}))
    events.extend(
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
        for d in deltas
    )
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(_event("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": _stop_reason(ans), "stop_sequence": None},
        "usage": {"output_tokens": ans.output_tokens},
    }))
    events.append(_event("message_stop", {"type": "message_stop"}))
    return events


_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
          500: "api_error", 529: "overloaded_error"}
_MESSAGES = {
    "context_length_exceeded": "prompt is too long: 210000 tokens > 200000 maximum (simulated)",
    "content_policy_violation": "Output blocked by content filtering policy (simulated)",
    "model_not_found": "model: not found (simulated)",
}


def error_body(status: int, code: str | None) -> bytes:
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = _MESSAGES.get(code or "", f"{kind} (simulated)")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message},
                         "request_id": "req_sim"})
