"""What a chat request will use, guessed before it runs (reconciled after).

Tokens: 4 characters a token, OpenAI's rule of thumb for English text (a tokenizer would
cost ~1 ms per 10 KB prompt on the submit path and still not know the provider's own),
plus the output the request allows: `max_tokens` when set, else `default_output_tokens`.
Cost: those tokens at the model's list price (services/providers/prices.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from services.limits.model import MICRO
from services.providers.pricing import cost_usd
from services.providers.types import Usage

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Estimate:
    tokens: int
    cost_micros: int


def estimate(payload: dict[str, Any], *, default_output_tokens: int) -> Estimate:
    text = orjson.dumps([payload.get("system") or "", payload.get("messages") or [],
                         payload.get("tools") or []])
    input_tokens = len(text) // CHARS_PER_TOKEN + 1
    output_tokens = int(payload.get("max_tokens") or default_output_tokens)
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    cost = cost_usd(str(payload.get("provider") or "mock"), str(payload.get("model") or ""), usage)
    return Estimate(tokens=usage.total_tokens, cost_micros=round(cost * MICRO))


def actual(meta: dict[str, Any]) -> Estimate:
    """What a finished job used, from the facts its executor recorded."""
    usage = meta.get("usage") or {}
    tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    return Estimate(tokens=tokens, cost_micros=round(float(meta.get("cost_usd") or 0.0) * MICRO))
