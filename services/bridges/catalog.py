"""Which providers and models a bridge may name: the price table is the one source
(services/providers/pricing.py), plus self-hosted OpenAI-compatible providers from the
settings, which accept any model name.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

from services.providers.pricing import ModelInfo, find_model, models_for, price_table

# `sim` is a price row (the simulator's free `sim*` models, valid under every provider),
# not a provider a bridge can name.
NOT_PROVIDERS = frozenset({"sim"})
# The built-in provider: no credential, any `mock*` model.
MOCK = "mock"


def providers(open_providers: Collection[str] = ()) -> list[str]:
    return sorted(_priced() | set(open_providers))


@cache
def _priced() -> frozenset[str]:
    # The price table is read once per process; rebuilding this set was ~4% of a proxied
    # /v1/chat/completions call's CPU (check_model runs on every call).
    return frozenset(price_table()) - NOT_PROVIDERS


def chat_models(provider: str) -> list[ModelInfo]:
    return [m for m in models_for(provider) if m.kind == "chat"]


def check_model(provider: str, model: str, open_providers: Collection[str] = ()) -> str | None:
    """None when a bridge may use the pair, else why not."""
    if provider in open_providers:
        return None
    if provider not in _priced():
        return f"unknown provider {provider!r}"
    info = find_model(provider, model)
    if info is None:
        return f"provider {provider!r} has no model {model!r}"
    if info.kind != "chat":
        return f"model {model!r} is an embedding model, not a chat model"
    return None
