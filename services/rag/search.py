"""Search a collection by vector, keyword, or both fused by reciprocal rank fusion.

Hybrid asks each engine for `candidates` hits (50: enough depth that a chunk ranked well
by one engine and poorly by the other still meets), then scores each chunk
sum(weight / (rrf_k + rank)) over the lists it appears in (Cormack et al. 2009, rrf_k=60).
Ranks, not scores, are fused: BM25 and cosine scores live on unrelated scales.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from services.errors import Invalid
from services.rag.chunks.filters import normalize
from services.rag.chunks.store import ChunkStore
from services.rag.embeddings.service import EmbeddingService
from services.rag.model import Collection, Hit


class SearchMode(StrEnum):
    VECTOR = "vector"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class SearchQuery(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=5, ge=1, le=100)
    filters: dict[str, Any] = Field(default_factory=dict)
    mode: SearchMode = SearchMode.HYBRID
    rerank: bool = False


class Reranker(Protocol):
    async def rerank(self, query: str, hits: list[Hit], *, org_id: str) -> list[Hit]:
        """The same hits, most relevant first (a model call)."""


def fuse(lists: list[list[Hit]], *, rrf_k: float = 60.0, weights: list[float] | None = None) -> list[Hit]:
    """Reciprocal rank fusion; a chunk's fused score is its RRF score."""
    weights = weights or [1.0] * len(lists)
    scores: dict[str, float] = {}
    hits: dict[str, Hit] = {}
    for weight, ranked in zip(weights, lists, strict=True):
        for rank, hit in enumerate(ranked, start=1):
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + weight / (rrf_k + rank)
            hits.setdefault(hit.chunk.id, hit)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [Hit(chunk=hits[cid].chunk, score=scores[cid]) for cid in order]


class Searcher:
    def __init__(
        self, chunks: ChunkStore, embeddings: EmbeddingService, *, rrf_k: float = 60.0,
        candidates: int = 50, reranker: Reranker | None = None,
    ) -> None:
        self._chunks = chunks
        self._embeddings = embeddings
        self._rrf_k = rrf_k
        self._candidates = candidates
        self._reranker = reranker

    async def _vector(self, collection: Collection, query: str, k: int, filters: dict[str, Any]) -> list[Hit]:
        spec = collection.embedding
        embedded = await self._embeddings.embed([query], org_id=collection.org_id, provider=spec.provider,
                                                model=spec.model, dimension=spec.dimension)
        return await self._chunks.vector_search(collection, embedded.vectors[0], k, filters)

    async def search(self, collection: Collection, q: SearchQuery) -> list[Hit]:
        normalize(q.filters)  # a bad filter is a 422 before any embedding call
        depth = max(q.k, self._candidates) if (q.mode is SearchMode.HYBRID or q.rerank) else q.k
        if q.mode is SearchMode.VECTOR:
            hits = await self._vector(collection, q.query, depth, q.filters)
        elif q.mode is SearchMode.KEYWORD:
            hits = await self._chunks.keyword_search(collection, q.query, depth, q.filters)
        else:
            vector = await self._vector(collection, q.query, depth, q.filters)
            keyword = await self._chunks.keyword_search(collection, q.query, depth, q.filters)
            hits = fuse([vector, keyword], rrf_k=self._rrf_k)
        if q.rerank and self._reranker is None:
            raise Invalid("no rerank model is configured on this deployment", field="rerank")
        if q.rerank and self._reranker is not None and hits:
            hits = await self._reranker.rerank(q.query, hits[: max(q.k * 2, 10)], org_id=collection.org_id)
        return hits[: q.k]
