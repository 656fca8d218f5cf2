"""EmbeddingService: texts -> vectors through any provider, in batches, retried, cached.

One call: look every text up in the cache (by content hash, per org), embed the distinct
misses in batches of `batch_size` with up to `concurrency` batches in flight (OpenAI takes
2,048 inputs a call, Mistral and Gemini fewer; 128 keeps every provider's request under
its limits), retry each batch on `Retryable` errors with jittered backoff, and store
what came back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from services.chat.credentials import CredentialResolver
from services.errors import Invalid, Permanent
from services.providers.types import EmbeddingResult
from services.rag.embeddings.cache import VectorCache, cache_key
from services.resilience.retry import RetryPolicy, call_with_retry


class Embedder(Protocol):
    """A provider adapter's embedding call (every chat adapter has one; so does `local`)."""

    name: str

    async def embed(self, inputs: list[str], *, model: str, api_key: str | None) -> EmbeddingResult: ...


@dataclass(slots=True)
class Embedded:
    vectors: list[list[float]]
    provider: str
    model: str
    input_tokens: int = 0
    cached: int = 0


class EmbeddingService:
    def __init__(
        self, embedders: Mapping[str, Embedder], cache: VectorCache, credentials: CredentialResolver,
        *, batch_size: int = 128, concurrency: int = 4, retry: RetryPolicy | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self._embedders = embedders
        self._cache = cache
        self._credentials = credentials
        self._batch_size = max(1, batch_size)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._retry = retry or RetryPolicy()
        self._timeout_s = timeout_s

    def embedder(self, provider: str) -> Embedder:
        found = self._embedders.get(provider)
        if found is None:
            raise Invalid(f"unknown embedding provider {provider!r}", field="model")
        return found

    async def embed(
        self, texts: list[str], *, org_id: str, provider: str, model: str,
        dimension: int | None = None,
    ) -> Embedded:
        """One vector per text, in order. `dimension`, when given, is checked on every vector."""
        embedder = self.embedder(provider)
        keys = [cache_key(org_id, provider, model, t) for t in texts]
        found = await self._cache.get_many(keys)
        misses = {k: t for k, t, v in zip(keys, texts, found, strict=True) if v is None}
        fresh: dict[str, list[float]] = {}
        tokens = 0
        if misses:
            api_key = await self._credentials(org_id, provider)
            deadline = time.monotonic() + self._timeout_s
            items = list(misses.items())
            batches = [items[i:i + self._batch_size] for i in range(0, len(items), self._batch_size)]
            results = await asyncio.gather(*(
                self._batch(embedder, [t for _, t in b], model, api_key, deadline) for b in batches))
            for batch, result in zip(batches, results, strict=True):
                if len(result.vectors) != len(batch):
                    raise Permanent(f"{provider} returned {len(result.vectors)} vectors for "
                                    f"{len(batch)} inputs", code="provider_bad_response")
                fresh.update((k, v) for (k, _), v in zip(batch, result.vectors, strict=True))
                tokens += result.usage.input_tokens
            await self._cache.set_many(fresh)
        vectors = [v if v is not None else fresh[k] for k, v in zip(keys, found, strict=True)]
        if dimension is not None and any(len(v) != dimension for v in vectors):
            got = next(len(v) for v in vectors if len(v) != dimension)
            raise Permanent(f"{provider}/{model} returned {got}-dim vectors, the collection "
                            f"expects {dimension}", code="dimension_mismatch")
        return Embedded(vectors, provider, model, tokens, cached=len(texts) - len(misses))

    async def _batch(
        self, embedder: Embedder, texts: list[str], model: str, api_key: str | None,
        deadline: float,
    ) -> EmbeddingResult:
        async def once() -> EmbeddingResult:
            return await embedder.embed(texts, model=model, api_key=api_key)

        async with self._slots:
            return await call_with_retry(once, self._retry, deadline=deadline)
