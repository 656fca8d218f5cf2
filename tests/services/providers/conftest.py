from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from config import ProvidersSettings
from services.providers.registry import ProviderRegistry, build_registry
from services.providers.simulator.server import RunningSimulator
from tests.sim_fixtures import sim, sim_server  # noqa: F401

# A priced model per provider, so cost assertions are not trivially zero (vLLM is
# self-hosted: free).
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "groq": "llama-3.1-8b-instant",
    "mistral": "mistral-small-latest",
    "openrouter": "openai/gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
    "vllm": "meta-llama/Llama-3.1-8B-Instruct",
}
EMBEDDING_MODELS = {
    "openai": "text-embedding-3-small", "mistral": "mistral-embed",
    "gemini": "gemini-embedding-001", "openrouter": "openai/text-embedding-3-small",
    "vllm": "BAAI/bge-small-en-v1.5",
}


def sim_registry(running: RunningSimulator, **overrides: object) -> ProviderRegistry:
    values: dict[str, object] = {
        "simulator_url": running.url, "request_timeout_s": 5.0, "connect_timeout_s": 2.0,
        "openai_compatible": {"vllm": running.base_url("vllm")}, **overrides,
    }
    settings = ProvidersSettings(**values)  # type: ignore[arg-type]
    return build_registry(settings)


# The adapters speaking the OpenAI wire run the contract twice: over their aiohttp transport
# (the default) and through the official `openai` SDK.
OPENAI_WIRE = {"openai", "openrouter", "gemini", "vllm"}


@pytest.fixture(params=["aiohttp", "sdk"])
def transport(request: pytest.FixtureRequest) -> str:
    name = getattr(request.node, "callspec", None) and request.node.callspec.params.get("name")
    if request.param == "sdk" and name not in OPENAI_WIRE:
        pytest.skip("one transport only: this provider's SDK")
    return str(request.param)


@pytest.fixture
async def registry(sim: RunningSimulator, transport: str) -> AsyncIterator[ProviderRegistry]:  # noqa: F811
    reg = sim_registry(sim, openai_transport=transport)
    yield reg
    await reg.aclose()
