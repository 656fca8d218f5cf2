"""RAG records: a collection fixes its embedding model and chunking at creation; a document
belongs to one collection; a chunk is a span of a document's text with its vector."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.config.paging import sortable_id

# The offline default: the `wordllama` wheel's 256-dim static embeddings (no key, no download).
LOCAL_PROVIDER = "local"
LOCAL_MODEL = "wordllama-l2-256"
LOCAL_DIMENSION = 256


class EmbeddingSpec(BaseModel):
    provider: str = Field(default=LOCAL_PROVIDER, min_length=1, max_length=64)
    model: str = Field(default=LOCAL_MODEL, min_length=1, max_length=200)
    dimension: int = Field(default=LOCAL_DIMENSION, ge=8, le=4096, strict=True)


class ChunkingSpec(BaseModel):
    # ~300 tokens keeps a chunk to one idea while leaving room for 10 sources in a prompt.
    max_tokens: int = Field(default=300, ge=32, le=4096, strict=True)
    overlap_tokens: int = Field(default=40, ge=0, le=1024, strict=True)


class Collection(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("col"))
    org_id: str
    name: str
    description: str = ""
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class SourceKind(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    PDF = "pdf"
    URL = "url"


class Document(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("doc"))
    org_id: str
    collection_id: str
    # What makes two submissions "the same document": the caller's external_id, else the
    # URL or file name, else the content itself.
    key: str
    kind: SourceKind
    title: str = ""
    url: str | None = None
    filename: str | None = None
    content_hash: str
    status: DocumentStatus = DocumentStatus.QUEUED
    chunk_count: int = 0
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


class Chunk(BaseModel):
    """One indexed span: `start`/`end` are character offsets into the parsed text."""

    id: str
    org_id: str
    collection_id: str
    document_id: str
    ordinal: int
    text: str
    start: int
    end: int
    heading: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Hit(BaseModel):
    chunk: Chunk
    score: float
