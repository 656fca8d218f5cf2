"""Mistral's chat and embeddings: OpenAI's shapes with Mistral's differences (usage on the
finishing stream chunk instead of a separate one, 9-character tool call ids, flat error
body `{"object": "error", "message", "type", "param", "code"}`)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

from services.providers.simulator import openai_format
from services.providers.simulator.answers import Answer

_ids = itertools.count(1)


def _call_id(n: int) -> str:
    return f"s{n:08d}"


def completion(ans: Answer, model: str) -> bytes:
    return openai_format.completion(ans, model, call_id=_call_id)


def stream_events(ans: Answer, model: str) -> list[bytes]:
    return openai_format.stream_events(ans, model, include_usage=False, usage_in_last=True,
                                       call_id=_call_id, whole_tool_calls=True)


def embeddings(body: dict[str, Any], model: str) -> bytes:
    body = {**body, "encoding_format": None, "dimensions": body.get("output_dimension")}
    return openai_format.embeddings(body, model, id=f"emb-sim{next(_ids)}")


def error_body(status: int, code: str | None) -> bytes:
    if status == 401:
        return orjson.dumps({"message": "Unauthorized", "request_id": "sim"})
    kind, code, message = openai_format.error_parts(status, code)
    return orjson.dumps({"object": "error", "message": message, "type": kind, "param": None,
                         "code": code})
