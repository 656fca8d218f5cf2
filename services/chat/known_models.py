"""Which provider and model names a chat payload may use, checked at submit (422 naming the
field) rather than failing the job later: a provider this process has an adapter for, and a
model the price table lists (any name under a self-hosted OpenAI-compatible provider)."""

from __future__ import annotations

from collections.abc import Collection

from services.errors import Invalid
from services.providers.pricing import find_model


def check_model(provider: str, model: str, *, known: Collection[str], open_providers: Collection[str],
                prefix: str = "") -> None:
    if provider not in known:
        raise Invalid(f"unknown provider {provider!r}; known: {', '.join(sorted(known))}",
                      field=f"{prefix}provider")
    if provider in open_providers:
        return
    info = find_model(provider, model)
    if info is None:
        raise Invalid(f"provider {provider!r} has no model {model!r} (GET /api/v1/config/services/"
                      f"{provider}/models lists them)", field=f"{prefix}model")
    if info.kind != "chat":
        raise Invalid(f"model {model!r} is an embedding model, not a chat model", field=f"{prefix}model")
