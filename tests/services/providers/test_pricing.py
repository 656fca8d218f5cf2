from __future__ import annotations

import pytest

from services.providers.pricing import (
    cost_usd,
    find_model,
    is_known_model,
    models_for,
    price_table,
)
from services.providers.types import Usage

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


def test_every_provider_has_priced_models() -> None:
    table = price_table()
    for provider in ("openai", "anthropic", "groq", "mistral", "gemini", "openrouter"):
        models = models_for(provider)
        assert models, provider
        assert all(m.input_usd_per_mtok > 0 for m in models if m.kind == "chat")
    assert {m.kind for m in models_for("openai")} == {"chat", "embedding"}
    assert set(table["mock"]) >= {"mock"}


@pytest.mark.parametrize(("provider", "model", "expected"), [
    ("openai", "gpt-4o-mini", 0.75),
    ("openai", "gpt-4o-mini-2024-07-18", 0.75),  # dated snapshot -> its family
    ("openai", "gpt-4o", 12.5),
    ("anthropic", "claude-3-5-haiku-20241022", 4.8),
    ("anthropic", "claude-sonnet-4-5-20250929", 18.0),
    ("openrouter", "anthropic/claude-sonnet-4", 18.0),  # vendor's table
    ("mistral", "mistral-small-latest", 0.4),
    ("mock", "mock-250ms", 0.0),
    ("openai", "sim-fail-503", 0.0),
    ("vllm", "meta-llama/Llama-3.1-8B-Instruct", 0.0),  # self-hosted: unpriced
])
def test_cost(provider: str, model: str, expected: float) -> None:
    assert cost_usd(provider, model, MILLION) == pytest.approx(expected)


def test_small_usage_cost() -> None:
    assert cost_usd("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=500)) == \
        pytest.approx(0.0025 + 0.005)


def test_known_models() -> None:
    assert is_known_model("openai", "gpt-4.1-mini")
    assert not is_known_model("openai", "gpt-9000")
    assert not is_known_model("nope", "gpt-4o")
    info = find_model("mistral", "mistral-embed")
    assert info is not None and info.kind == "embedding"
    # "gpt-4o" must not swallow "gpt-4o-mini".
    found = find_model("openai", "gpt-4o-mini-2024-07-18")
    assert found is not None and found.model == "gpt-4o-mini"
