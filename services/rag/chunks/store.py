"""The chunk store Protocol. Adapters: memory_store (numpy + BM25, saved under `.data/`)
and pgvector_store (PostgreSQL + pgvector HNSW + full-text search).

Every call is scoped by the collection (which carries its org): a chunk of another org's
collection is never returned, counted or deleted.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.rag.model import Chunk, Collection, Hit

# {"lang": "en", "team": {"in": ["a", "b"]}}; `document_id` filters on the chunk's document.
Filters = dict[str, Any]


class ChunkStore(Protocol):
    async def connect(self) -> None:
        """Open connections / load saved data; idempotent."""

    async def close(self) -> None: ...

    async def replace_document(
        self, collection: Collection, document_id: str, chunks: list[Chunk], vectors: list[list[float]],
    ) -> None:
        """Atomically make `chunks` the document's only chunks (an empty list deletes them)."""

    async def delete_document(self, collection: Collection, document_id: str) -> int:
        """Delete the document's chunks; returns how many there were."""

    async def delete_collection(self, collection: Collection) -> int: ...

    async def count(self, collection: Collection, document_id: str | None = None) -> int: ...

    async def vector_search(
        self, collection: Collection, vector: list[float], k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        """The k nearest chunks by cosine similarity (score: similarity, higher is closer)."""

    async def keyword_search(
        self, collection: Collection, query: str, k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        """The k best chunks for the query's words (score: the engine's relevance)."""
