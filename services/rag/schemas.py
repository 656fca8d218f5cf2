"""HTTP request and response models of the RAG API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.rag.model import ChunkingSpec, Collection, Document, EmbeddingSpec, Hit, SourceKind


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    metadata: dict[str, Any] = Field(default_factory=dict)


class CollectionUpdate(BaseModel):
    """Embedding and chunking are fixed at creation (the vectors depend on them)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] | None = None


class DocumentCreate(BaseModel):
    """JSON ingestion: `text` (plain or markdown) or `url`, exactly one."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, min_length=1)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    format: SourceKind = SourceKind.TEXT
    title: str = Field(default="", max_length=500)
    external_id: str | None = Field(default=None, min_length=1, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)


class CollectionOut(Collection):
    pass


class DocumentAccepted(BaseModel):
    id: str
    status: str
    # True when the same content was already submitted under this key: nothing was queued.
    unchanged: bool = False


class SearchHit(BaseModel):
    score: float
    document_id: str
    chunk_id: str
    ordinal: int
    start: int
    end: int
    heading: str
    text: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        c = hit.chunk
        return cls(score=hit.score, document_id=c.document_id, chunk_id=c.id, ordinal=c.ordinal,
                   start=c.start, end=c.end, heading=c.heading, text=c.text, metadata=c.metadata)


class Page(BaseModel):
    data: list[Any]
    next_cursor: str | None


def document_out(doc: Document) -> dict[str, Any]:
    return doc.model_dump(mode="json")
