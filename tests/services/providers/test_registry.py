from __future__ import annotations

import pytest

from config import ProvidersSettings, Settings
from services.errors import Permanent
from services.providers.anthropic_adapter import AnthropicAdapter
from services.providers.clients import SdkClients
from services.providers.mock import MockProvider
from services.providers.openai_adapter import OpenAIAdapter
from services.providers.registry import build_registry, credentials_from_env

BUILT_IN = {"mock", "openai", "anthropic", "groq", "mistral", "openrouter", "gemini"}


def test_built_in_providers_and_real_urls_by_default() -> None:
    registry = build_registry(ProvidersSettings())
    assert set(registry) == BUILT_IN
    assert isinstance(registry["mock"], MockProvider)
    openai = registry["openai"]
    assert isinstance(openai, OpenAIAdapter) and openai.base_url is None  # the SDK's default
    gemini = registry["gemini"]
    assert isinstance(gemini, OpenAIAdapter)
    assert gemini.base_url == "https://generativelanguage.googleapis.com/v1beta/openai/"


def test_simulator_url_points_every_provider_at_it_unless_overridden() -> None:
    registry = build_registry(ProvidersSettings(
        simulator_url="http://127.0.0.1:9100/", anthropic_base_url="http://claude.local",
        openai_compatible={"vllm": "http://vllm:8000/v1"},
    ))
    assert set(registry) == BUILT_IN | {"vllm"}
    assert registry["openai"].base_url == "http://127.0.0.1:9100/openai/v1"  # type: ignore[attr-defined]
    assert registry["groq"].base_url == "http://127.0.0.1:9100/groq"  # type: ignore[attr-defined]
    assert registry["anthropic"].base_url == "http://claude.local"  # type: ignore[attr-defined]
    vllm = registry["vllm"]
    assert isinstance(vllm, OpenAIAdapter) and not vllm.key_required
    assert vllm.base_url == "http://vllm:8000/v1"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PROVIDERS_OPENAI_COMPATIBLE", '{"local": "http://127.0.0.1:8000/v1"}')
    monkeypatch.setenv("PROVIDERS_ANTHROPIC_DEFAULT_MAX_TOKENS", "2048")
    registry = build_registry(Settings())
    assert "local" in registry
    anthropic = registry["anthropic"]
    assert isinstance(anthropic, AnthropicAdapter) and anthropic.default_max_tokens == 2048
    assert anthropic.base_url == "http://127.0.0.1:9/anthropic"


def test_unknown_provider_is_a_permanent_error() -> None:
    registry = build_registry(ProvidersSettings())
    assert registry.get("nope") is None
    with pytest.raises(Permanent) as info:
        registry.provider("nope")
    assert info.value.code == "unknown_provider"


def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("VLLM_API_KEY", "local")
    assert credentials_from_env("anthropic") == "sk-ant"
    assert credentials_from_env("gemini") is None
    assert credentials_from_env("vllm") == "local"


async def test_sdk_clients_are_cached_per_credential_and_bounded() -> None:
    pools: list[list[str]] = []
    closed: list[object] = []

    async def close(pool: object) -> None:
        closed.append(pool)

    def make_pool() -> list[str]:
        pools.append([])
        return pools[-1]

    clients: SdkClients[list[str], tuple[str, int]] = SdkClients(
        make_pool, lambda pool, key: (key, id(pool)), close, size=2,
    )
    a = clients.get("key-a")
    assert clients.get("key-a") is a
    clients.get("key-b")
    clients.get("key-c")  # evicts key-a, the least recently used
    assert len(clients) == 2 and clients.get("key-a") is not a
    assert len(pools) == 1  # one shared connection pool
    await clients.aclose()
    await clients.aclose()
    assert closed == [pools[0]]


async def test_adapter_reuses_its_sdk_client() -> None:
    adapter = OpenAIAdapter(base_url="http://127.0.0.1:9/v1")
    first = adapter._client("k1")
    assert adapter._client("k1") is first
    assert adapter._client("k2") is not first
    assert first._client is adapter._client("k2")._client  # same connection pool
    await adapter.aclose()
