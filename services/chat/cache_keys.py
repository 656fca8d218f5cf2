"""What makes two requests "the same" for the response cache, and which requests may use it.

The key is sha256 over the canonical JSON (sorted keys, no nulls) of the org, provider,
model and the request fields that change the answer. `user`, `metadata`, `fallbacks`,
`stream` and `cache` do not. The org is part of the key: each org calls providers with its
own credentials and pays for its own answers, and a hit must not reveal another org's
prompts.

A stored answer is served (and an answer stored) only when the request is deterministic:
`temperature: 0` or a `seed`, or when it opts in with `cache: true` or
`metadata.deterministic: true` (a bridge opts in with `cache.always`). An unset temperature
is the provider's default sampling (1.0 for most), so it is not cached by default: two
calls must be able to give two answers. It bypasses the cache (read and write) when:
- it says `cache: false` or `metadata.deterministic: false`;
- it samples (temperature unset or above 0) without a seed and has not opted in;
- it declares HTTP tools with URLs: their answers depend on live endpoints that may change or
  have side effects, so the tool loop must run every time.
"""

from __future__ import annotations

import hashlib

import orjson

from services.chat.schemas import ChatJobPayload

KEY_VERSION = 1
_ANSWER_FIELDS = {
    "messages", "system", "tools", "tool_choice", "response_format", "temperature",
    "max_tokens", "stop", "seed",
}


def bypass_reason(payload: ChatJobPayload) -> str | None:
    """Why this request must not use the cache, or None when it may."""
    if payload.cache is False:
        return "cache_false"
    deterministic = payload.metadata.get("deterministic")
    if deterministic is False:
        return "non_deterministic"
    opted_in = payload.cache is True or deterministic is True
    if not opted_in and payload.temperature != 0 and payload.seed is None:
        return "sampling_without_seed"
    if any(tool.url for tool in payload.tools):
        return "http_tools"
    return None


def cache_key(org_id: str, payload: ChatJobPayload) -> str:
    body = payload.model_dump(include=_ANSWER_FIELDS, exclude_none=True, mode="json")
    canonical = orjson.dumps(
        {"v": KEY_VERSION, "org": org_id, "provider": payload.provider,
         "model": payload.model, "request": body},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()
