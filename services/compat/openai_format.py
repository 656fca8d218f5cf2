"""The platform's chat results written as OpenAI Chat Completions responses and chunks."""

from __future__ import annotations

from typing import Any

import orjson

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
DONE = b"data: [DONE]\n\n"


def completion_id(job_id: str) -> str:
    return "chatcmpl-" + job_id.removeprefix("job_")


def _finish(reason: str | None) -> str | None:
    if reason is None:
        return None
    return reason if reason in FINISH_REASONS else "stop"


def usage(raw: dict[str, Any] | None) -> dict[str, int]:
    raw = raw or {}
    prompt, completion = int(raw.get("input_tokens", 0)), int(raw.get("output_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _tool_calls(raw: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not raw:
        return None
    return [{"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c.get("arguments", "")}} for c in raw]


def completion(result: dict[str, Any], *, cid: str, created: int, model: str) -> dict[str, Any]:
    """A whole `chat.completion` object from an executor result."""
    message: dict[str, Any] = {"role": "assistant", "content": result.get("content"),
                               "refusal": None}
    calls = _tool_calls(result.get("tool_calls"))
    if calls:
        message["tool_calls"] = calls
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _finish(result.get("finish_reason")) or "stop"}],
        "usage": usage(result.get("usage")), "system_fingerprint": None,
    }


class ChunkWriter:
    """Writes `chat.completion.chunk` SSE lines for one stream (tool calls keep an index)."""

    def __init__(self, *, cid: str, created: int, model: str) -> None:
        self._base = {"id": cid, "object": "chat.completion.chunk", "created": created,
                      "model": model, "system_fingerprint": None}
        self._indexes: dict[str, int] = {}
        self._started = False
        self.finished = False

    def _line(self, body: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def chunk(self, data: dict[str, Any]) -> bytes:
        """One executor `chunk` event (delta, tool_calls, finish_reason)."""
        delta: dict[str, Any] = {}
        if not self._started:
            delta["role"] = "assistant"
            self._started = True
        if data.get("delta"):
            delta["content"] = data["delta"]
        calls = []
        for call in data.get("tool_calls") or []:
            index = self._indexes.setdefault(call["id"], len(self._indexes))
            function = {"name": call["name"], "arguments": call.get("arguments", "")}
            calls.append({"index": index, "id": call["id"], "type": "function",
                          "function": function})
        if calls:
            delta["tool_calls"] = calls
        finish = _finish(data.get("finish_reason"))
        if finish == "stop" and self._indexes:
            finish = "tool_calls"
        self.finished = self.finished or finish is not None
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._line({**self._base, "choices": [choice]})

    def finish(self, result: dict[str, Any]) -> bytes | None:
        """The closing chunk, unless the provider's last chunk already carried one."""
        if self.finished:
            return None
        return self.chunk({"finish_reason": result.get("finish_reason") or "stop"})

    def usage(self, raw: dict[str, Any] | None) -> bytes:
        """The extra final chunk `stream_options.include_usage` asks for (no choices)."""
        return self._line({**self._base, "choices": [], "usage": usage(raw)})

    def error(self, code: str, message: str) -> bytes:
        return self._line({"error": {"message": message, "type": "server_error", "code": code}})
