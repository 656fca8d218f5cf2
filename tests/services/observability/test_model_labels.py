"""Client-chosen model names never become unbounded Prometheus label values."""

from __future__ import annotations

from services.providers.pricing import model_label


def test_catalog_models_keep_their_name_and_anything_else_is_other() -> None:
    assert model_label("openai", "gpt-4o-mini") == "gpt-4o-mini"
    assert model_label("openai", "gpt-4o-2024-08-06") == "gpt-4o"
    assert model_label("mock", "mock-250ms") == "mock"
    assert model_label("openai", "sim-anything") == "sim"
    assert model_label("vllm", "whatever-they-typed") == "other"
    assert {model_label("openai", f"gpt-4o-{i}") for i in range(1000)} == {"gpt-4o"}
    assert {model_label("openai", f"made-up-{i}") for i in range(1000)} == {"other"}
