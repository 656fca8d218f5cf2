"""Model prices (services/providers/prices.toml) and the cost of one call.

`cost_usd` prices usage; `models_for` lists a provider's models with prices for the
bridge configuration API; `is_known_model` validates a provider + model pair. Self-hosted
OpenAI-compatible providers (vLLM) are not in the table: any model is accepted at 0 cost.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from services.providers.types import Usage

PRICES_FILE = Path(__file__).with_name("prices.toml")
# OpenRouter model ids are "vendor/model": price them from the vendor's table.
_OPENROUTER_VENDORS = {"openai": "openai", "anthropic": "anthropic", "mistralai": "mistral",
                       "google": "gemini"}


class ModelInfo(BaseModel):
    provider: str
    model: str
    kind: Literal["chat", "embedding"] = "chat"
    input_usd_per_mtok: float
    output_usd_per_mtok: float


@lru_cache(maxsize=1)
def price_table() -> dict[str, dict[str, ModelInfo]]:
    raw: dict[str, Any] = tomllib.loads(PRICES_FILE.read_text())
    table: dict[str, dict[str, ModelInfo]] = {}
    for provider, models in raw.items():
        if not isinstance(models, dict):
            continue  # as_of and other top-level notes
        table[provider] = {
            name: ModelInfo(provider=provider, model=name, kind=entry.get("kind", "chat"),
                            input_usd_per_mtok=entry["input"], output_usd_per_mtok=entry["output"])
            for name, entry in models.items()
        }
    return table


@lru_cache(maxsize=4096)
def find_model(provider: str, model: str) -> ModelInfo | None:
    """The price entry for `model`: exact, else the longest listed prefix, else (OpenRouter)
    the vendor's entry; `sim*` models are free under every provider."""
    table = price_table()
    if model.startswith("sim"):
        return table["sim"]["sim"].model_copy(update={"provider": provider, "model": model})
    models = table.get(provider, {})
    if model in models:
        return models[model]
    best = max((name for name in models if model.startswith(name + "-") or
                model.startswith(name + "@")), key=len, default=None)
    if best is not None:
        return models[best]
    if provider == "openrouter" and "/" in model:
        vendor, _, rest = model.partition("/")
        if vendor in _OPENROUTER_VENDORS:
            found = find_model(_OPENROUTER_VENDORS[vendor], rest)
            if found is not None:
                return found.model_copy(update={"provider": provider, "model": model})
    return None


def cost_usd(provider: str, model: str, usage: Usage) -> float:
    """What `usage` cost, in USD; 0.0 for unpriced models (self-hosted, unknown)."""
    info = find_model(provider, model)
    if info is None:
        return 0.0
    return (usage.input_tokens * info.input_usd_per_mtok
            + usage.output_tokens * info.output_usd_per_mtok) / 1_000_000


def models_for(provider: str) -> list[ModelInfo]:
    return list(price_table().get(provider, {}).values())


def is_known_model(provider: str, model: str) -> bool:
    return find_model(provider, model) is not None


@lru_cache(maxsize=4096)
def model_label(provider: str, model: str) -> str:
    """A bounded Prometheus label for a client-chosen model name: the price table's entry
    (`gpt-4o-2024-08-06` counts as `gpt-4o`), `sim` for simulator models, else `other`, so a
    client cannot mint one time series per made-up name."""
    if model.startswith("sim"):
        return "sim"
    listed = price_table().get(provider, {})
    info = find_model(provider, model)
    return info.model if info is not None and info.model in listed else "other"
