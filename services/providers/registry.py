"""Provider name -> adapter, built once at start-up from `settings.providers`.

Built-in names: mock, openai, anthropic, groq, mistral, openrouter, gemini, plus every
entry of `PROVIDERS_OPENAI_COMPATIBLE` (e.g. a self-hosted vLLM, no key required). With
`PROVIDERS_SIMULATOR_URL` set, every provider without its own base URL override points at
the provider simulator (tests, benchmarks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from config import ProvidersSettings, Settings
from services.errors import Permanent
from services.providers.clients import ResponseObserver
from services.providers.mock import MockProvider
from services.providers.types import Provider

# Environment variable holding each built-in provider's credential (until per-org
# encrypted credentials arrive, which are passed as the same `api_key` parameter).
CREDENTIAL_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
# Where the simulator serves each provider (see services/providers/simulator/server.py).
_SIM_PATHS = {
    "openai": "/openai/v1", "anthropic": "/anthropic", "groq": "/groq", "mistral": "/mistral",
    "openrouter": "/openrouter/api/v1", "gemini": "/gemini/v1beta/openai",
}


def credentials_from_env(provider: str) -> str | None:
    """The credential for `provider` from the environment (`<NAME>_API_KEY`), or None."""
    name = CREDENTIAL_ENV.get(provider, f"{provider.upper().replace('-', '_')}_API_KEY")
    return os.environ.get(name) or None


class ProviderRegistry(Mapping[str, Provider]):
    """A read-only mapping name -> adapter; `provider(name)` raises the platform's
    `unknown_provider` error instead of KeyError."""

    def __init__(self, providers: dict[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = dict(providers or {})

    def add(self, provider: Provider) -> None:
        self._providers[provider.name] = provider

    def provider(self, name: str) -> Provider:
        found = self._providers.get(name)
        if found is None:
            raise Permanent(f"unknown provider {name!r}", code="unknown_provider")
        return found

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    async def aclose(self) -> None:
        """Close every adapter's cached SDK clients (safe to call twice)."""
        for provider in self._providers.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


def base_urls(cfg: ProvidersSettings) -> dict[str, str | None]:
    urls: dict[str, str | None] = {
        "openai": cfg.openai_base_url, "anthropic": cfg.anthropic_base_url,
        "groq": cfg.groq_base_url, "mistral": cfg.mistral_base_url,
        "openrouter": cfg.openrouter_base_url, "gemini": cfg.gemini_base_url,
    }
    if cfg.simulator_url:
        root = cfg.simulator_url.rstrip("/")
        explicit = cfg.model_fields_set
        for name, path in _SIM_PATHS.items():
            if f"{name}_base_url" not in explicit:
                urls[name] = root + path
    return urls


def build_registry(settings: Settings | ProvidersSettings, *,
                   on_response: ResponseObserver | None = None) -> ProviderRegistry:
    """Every configured adapter. SDKs are imported here, at start-up, not per request.
    `on_response` sees every answer of the OpenAI-wire and Anthropic adapters (rate-limit headers)."""
    from services.providers.anthropic_adapter import AnthropicAdapter
    from services.providers.groq_adapter import GroqAdapter
    from services.providers.mistral_adapter import MistralAdapter
    from services.providers.openai_adapter import OpenAIAdapter

    cfg = settings.providers if isinstance(settings, Settings) else settings
    urls = base_urls(cfg)
    common: dict[str, Any] = {"timeout_s": cfg.request_timeout_s,
                              "connect_timeout_s": cfg.connect_timeout_s,
                              "cache_size": cfg.client_cache_size}
    observed: dict[str, Any] = {"on_response": on_response}
    wire: dict[str, Any] = {**common, "transport": cfg.openai_transport}
    registry = ProviderRegistry()
    registry.add(MockProvider(latency_ms=cfg.mock_latency_ms))
    registry.add(OpenAIAdapter("openai", base_url=urls["openai"], supports_batches=True,
                               max_tokens_param="max_completion_tokens", **wire, **observed))
    registry.add(AnthropicAdapter(base_url=urls["anthropic"],
                                  default_max_tokens=cfg.anthropic_default_max_tokens, **common,
                                  **observed))
    registry.add(GroqAdapter(base_url=urls["groq"], **common))
    registry.add(MistralAdapter(base_url=urls["mistral"], **common))
    registry.add(OpenAIAdapter("openrouter", base_url=urls["openrouter"], **wire))
    # `user` is not among the parameters Gemini's OpenAI-compatible endpoint documents:
    # dropped rather than risk a 400.
    registry.add(OpenAIAdapter("gemini", base_url=urls["gemini"],
                               drop_params=frozenset({"user"}), **wire))
    for name, url in cfg.openai_compatible.items():
        if cfg.simulator_url and not url:
            url = f"{cfg.simulator_url.rstrip('/')}/{name}/v1"
        registry.add(OpenAIAdapter(name, base_url=url, key_required=False, **wire))
    return registry
