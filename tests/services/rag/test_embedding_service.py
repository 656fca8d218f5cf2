"""EmbeddingService over the OpenAI adapter against the provider simulator (real HTTP):
batching, order, retries, the content-hash cache (in process and in Redis), dimensions."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from services.chat.credentials import EnvCredentials
from services.errors import Invalid, Permanent
from services.providers.embeddings.local import LocalEmbedder
from services.providers.registry import ProviderRegistry
from services.providers.simulator.server import RunningSimulator
from services.rag.embeddings.cache import MemoryVectorCache, RedisVectorCache, TieredVectorCache
from services.rag.embeddings.service import EmbeddingService
from services.resilience.retry import RetryPolicy
from tests.services.providers.conftest import registry, sim_registry, transport  # noqa: F401
from tests.sim_fixtures import sim, sim_server  # noqa: F401

FAST_RETRY = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05)


def _service(reg: ProviderRegistry, cache: object = None, batch: int = 128) -> EmbeddingService:
    return EmbeddingService({**reg, "local": LocalEmbedder()}, cache or MemoryVectorCache(),  # type: ignore[arg-type]
                            EnvCredentials(), batch_size=batch, retry=FAST_RETRY)


@pytest.fixture(autouse=True)
def _openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sim")


async def test_batches_in_order_and_cached(registry: ProviderRegistry, sim: RunningSimulator) -> None:  # noqa: F811
    service = _service(registry, batch=128)
    texts = [f"text number {i}" for i in range(300)]
    out = await service.embed(texts, org_id="a", provider="openai", model="text-embedding-3-small", dimension=8)
    assert (await sim.stats())["requests"] == 3  # 128 + 128 + 44
    single = await _service(registry).embed([texts[257]], org_id="a", provider="openai",
                                            model="text-embedding-3-small")
    assert out.vectors[257] == single.vectors[0]
    again = await service.embed(texts, org_id="a", provider="openai", model="text-embedding-3-small")
    assert again.vectors == out.vectors and again.cached == 300
    assert (await sim.stats())["requests"] == 4  # only the single call above
    other_org = await service.embed(texts[:1], org_id="b", provider="openai", model="text-embedding-3-small")
    assert other_org.cached == 0


async def test_retries_a_failing_batch(registry: ProviderRegistry, sim: RunningSimulator) -> None:  # noqa: F811
    out = await _service(registry).embed(["a", "b"], org_id="a", provider="openai", model="sim-failfirst-2")
    assert len(out.vectors) == 2
    assert (await sim.stats())["requests"] == 3


async def test_wrong_dimension_and_unknown_provider(registry: ProviderRegistry) -> None:  # noqa: F811
    service = _service(registry)
    with pytest.raises(Permanent) as wrong:
        await service.embed(["a"], org_id="a", provider="openai", model="text-embedding-3-small", dimension=1536)
    assert wrong.value.code == "dimension_mismatch"
    with pytest.raises(Invalid) as unknown:
        await service.embed(["a"], org_id="a", provider="nope", model="x")
    assert unknown.value.field == "model"


async def test_redis_cache_shared_between_processes(
    registry: ProviderRegistry, sim: RunningSimulator, redis_url: str, unique: str,  # noqa: F811
) -> None:
    redis = Redis.from_url(redis_url)
    try:
        def tiered() -> TieredVectorCache:
            return TieredVectorCache(MemoryVectorCache(), RedisVectorCache(redis, prefix=f"t{unique}:", ttl_s=60))

        first = await _service(registry, tiered()).embed(["x", "y"], org_id="a", provider="openai",
                                                         model="text-embedding-3-small")
        second = await _service(registry, tiered()).embed(["x", "y"], org_id="a", provider="openai",
                                                          model="text-embedding-3-small")
        assert second.cached == 2
        for got, want in zip(second.vectors, first.vectors, strict=True):
            assert got == pytest.approx(want, abs=1e-6)
        assert (await sim.stats())["requests"] == 1
    finally:
        await redis.aclose()


async def test_local_embedder_is_offline_and_normalised() -> None:
    out = await EmbeddingService({"local": LocalEmbedder()}, MemoryVectorCache(), EnvCredentials()).embed(
        ["a cat sat", "a dog ran"], org_id="a", provider="local", model="wordllama-l2-256", dimension=256)
    assert [round(sum(v * v for v in vec), 4) for vec in out.vectors] == [1.0, 1.0]
    assert out.vectors[0] != out.vectors[1] and out.input_tokens > 0
