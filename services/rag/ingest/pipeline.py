"""One document's ingestion: source -> parse -> chunk -> embed (batched) -> index.

Run by a Celery task (`python index.py worker --pool ingest`) or in process (`make run`).
Idempotent: a redelivered task for a document that is already indexed at its current
content hash does nothing; a document replaced or deleted while this run was working is
left to the run that replaced it (checked just before and after the write).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Protocol

from services.errors import PlatformError, Retryable
from services.rag.chunking import TokenLengths, chunk
from services.rag.chunks.store import ChunkStore
from services.rag.embeddings.service import EmbeddingService
from services.rag.fetch import Fetched
from services.rag.model import Chunk, Collection, Document, DocumentStatus, SourceKind
from services.rag.parsing import parse
from services.rag.store import RagRepository

log = logging.getLogger(__name__)


class Fetcher(Protocol):
    async def fetch(self, url: str) -> Fetched: ...


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embed_text(heading: str, text: str) -> str:
    """What is embedded: the heading path gives a chunk cut mid-section its topic back."""
    return text if not heading or text.startswith("#") else f"{heading}\n{text}"


class IngestPipeline:
    def __init__(
        self, repo: RagRepository, chunks: ChunkStore, embeddings: EmbeddingService,
        token_lengths: TokenLengths, fetcher: Fetcher | None = None,
    ) -> None:
        self._repo = repo
        self._chunks = chunks
        self._embeddings = embeddings
        self._token_lengths = token_lengths
        self._fetcher = fetcher

    async def run(self, org_id: str, document_id: str) -> Document | None:
        """Ingest one document; returns it as it ends (None: it or its collection is gone).
        A Retryable error is raised for the caller to retry; others fail the document."""
        doc = await self._repo.get_document(org_id, document_id)
        if doc is None:
            return None
        collection = await self._repo.get_collection(org_id, doc.collection_id)
        if collection is None:
            return None
        if doc.status is DocumentStatus.READY:
            return doc
        await self._repo.update_document(org_id, doc.id, {"status": DocumentStatus.PROCESSING, "error": None})
        try:
            count = await self._index(collection, doc)
        except Retryable:
            raise
        except PlatformError as exc:
            return await self._fail(doc, exc.message)
        except Exception as exc:  # a parser bug must fail the document, not loop forever
            log.exception("ingestion failed", extra={"document_id": doc.id})
            return await self._fail(doc, f"internal error ({type(exc).__name__})")
        if count is None:
            return await self._repo.get_document(org_id, doc.id)
        await self._repo.drop_source(doc.id)
        return await self._repo.update_document(
            org_id, doc.id, {"status": DocumentStatus.READY, "chunk_count": count, "error": None})

    async def _fail(self, doc: Document, message: str) -> Document | None:
        return await self._repo.update_document(doc.org_id, doc.id,
                                                {"status": DocumentStatus.FAILED, "error": message})

    async def _source(self, doc: Document) -> tuple[bytes, SourceKind]:
        if doc.kind is SourceKind.URL:
            if self._fetcher is None or doc.url is None:
                raise PlatformError("URL ingestion is not configured", code="fetch_unavailable")
            fetched = await self._fetcher.fetch(doc.url)
            return fetched.data, fetched.kind
        data = await self._repo.get_source(doc.id)
        if data is None:
            raise PlatformError("the document's content is gone; submit it again", code="source_missing")
        return data, doc.kind

    async def _index(self, collection: Collection, doc: Document) -> int | None:
        data, kind = await self._source(doc)
        if doc.kind is SourceKind.URL:
            digest = content_hash(data)
            if digest == doc.content_hash and await self._chunks.count(collection, doc.id):
                return doc.chunk_count  # the page has not changed since it was indexed
            await self._repo.update_document(doc.org_id, doc.id, {"content_hash": digest})
            doc = doc.model_copy(update={"content_hash": digest})
        parsed = await asyncio.to_thread(parse, kind, data)
        spans = await asyncio.to_thread(chunk, parsed, collection.chunking, self._token_lengths)
        spec = collection.embedding
        embedded = await self._embeddings.embed(
            [embed_text(s.heading, s.text) for s in spans], org_id=doc.org_id, provider=spec.provider,
            model=spec.model, dimension=spec.dimension)
        chunks = [Chunk(id=f"{doc.id}:{doc.content_hash[:12]}:{n}", org_id=doc.org_id,
                        collection_id=collection.id, document_id=doc.id, ordinal=n, text=s.text,
                        start=s.start, end=s.end, heading=s.heading, metadata=doc.metadata)
                  for n, s in enumerate(spans)]
        if not await self._current(doc):
            return None
        await self._chunks.replace_document(collection, doc.id, chunks, embedded.vectors)
        if not await self._current(doc):  # deleted while we wrote: take our chunks back out
            if await self._repo.get_document(doc.org_id, doc.id) is None:
                await self._chunks.delete_document(collection, doc.id)
            return None
        if parsed.title and not doc.title:
            await self._repo.update_document(doc.org_id, doc.id, {"title": parsed.title})
        return len(chunks)

    async def _current(self, doc: Document) -> bool:
        now = await self._repo.get_document(doc.org_id, doc.id)
        return now is not None and now.content_hash == doc.content_hash
