"""RagService: collections, documents and search for one org at a time (the routes' API).

Submitting a document records it (and its bytes) then queues its ingestion; the same key
with the same content is a no-op that returns the existing document, a changed one is
re-queued and its chunks replaced when the new run writes.
"""

from __future__ import annotations

from typing import Any

from services.config.paging import Page
from services.errors import Conflict, Invalid, NotFound
from services.rag.chunks.store import ChunkStore
from services.rag.embeddings.service import EmbeddingService
from services.rag.fetch import UrlFetcher
from services.rag.ingest.pipeline import content_hash
from services.rag.ingest.queue import IngestQueue
from services.rag.model import (
    LOCAL_DIMENSION,
    LOCAL_MODEL,
    LOCAL_PROVIDER,
    Collection,
    Document,
    DocumentStatus,
    Hit,
    SourceKind,
)
from services.rag.schemas import CollectionCreate, CollectionUpdate
from services.rag.search import Searcher, SearchQuery
from services.rag.store import RagRepository


class RagService:
    def __init__(
        self, repo: RagRepository, chunks: ChunkStore, embeddings: EmbeddingService, searcher: Searcher,
        queue: IngestQueue, fetcher: UrlFetcher, *, max_document_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.repo = repo
        self.chunks = chunks
        self.embeddings = embeddings
        self.searcher = searcher
        self.queue = queue
        self.fetcher = fetcher
        self.max_document_bytes = max_document_bytes

    async def create_collection(self, org_id: str, body: CollectionCreate) -> Collection:
        spec = body.embedding
        self.embeddings.embedder(spec.provider)  # unknown provider: 422 on save, not at ingest
        if spec.provider == LOCAL_PROVIDER and (spec.model, spec.dimension) != (LOCAL_MODEL, LOCAL_DIMENSION):
            raise Invalid(f"the local provider serves {LOCAL_MODEL} at {LOCAL_DIMENSION} dimensions",
                          field="embedding.model")
        if body.chunking.overlap_tokens >= body.chunking.max_tokens:
            raise Invalid("must be smaller than max_tokens", field="chunking.overlap_tokens")
        collection = Collection(org_id=org_id, **body.model_dump())
        return await self.repo.create_collection(collection)

    async def collection(self, org_id: str, collection_id: str) -> Collection:
        found = await self.repo.get_collection(org_id, collection_id)
        if found is None:
            raise NotFound("collection not found", code="collection_not_found")
        return found

    async def list_collections(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Collection]:
        return await self.repo.list_collections(org_id, limit=limit, cursor=cursor)

    async def update_collection(self, org_id: str, collection_id: str, body: CollectionUpdate) -> Collection:
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        updated = await self.repo.update_collection(org_id, collection_id, changes)
        if updated is None:
            raise NotFound("collection not found", code="collection_not_found")
        return updated

    async def delete_collection(self, org_id: str, collection_id: str) -> None:
        collection = await self.collection(org_id, collection_id)
        await self.repo.delete_collection(org_id, collection_id)
        await self.chunks.delete_collection(collection)

    async def add_document(
        self, org_id: str, collection_id: str, *, kind: SourceKind, data: bytes | None = None,
        url: str | None = None, title: str = "", filename: str | None = None,
        external_id: str | None = None, metadata: dict[str, Any] | None = None,
    ) -> tuple[Document, bool]:
        """Record and queue a document; returns it and whether it was unchanged (not queued)."""
        await self.collection(org_id, collection_id)
        if data is not None and len(data) > self.max_document_bytes:
            raise Invalid(f"over {self.max_document_bytes} bytes", field="file" if filename else "text")
        if url is not None:
            await self.fetcher.check(url)
        key = external_id or url or filename or content_hash(data or b"")
        digest = content_hash(data) if data is not None else ""
        existing = await self.repo.find_document(org_id, collection_id, key)
        if existing is not None and data is not None and existing.content_hash == digest \
                and existing.status is not DocumentStatus.FAILED:
            return existing, True
        fields: dict[str, Any] = {"kind": kind, "title": title, "url": url, "filename": filename,
                                  "content_hash": digest or (existing.content_hash if existing else ""),
                                  "status": DocumentStatus.QUEUED, "error": None, "metadata": metadata or {}}
        doc = (existing.model_copy(update=fields) if existing is not None
               else Document(org_id=org_id, collection_id=collection_id, key=key, **fields))
        if data is not None:
            await self.repo.put_source(doc.id, data)
        try:
            await self.repo.save_document(doc)
        except Conflict:  # the same key submitted concurrently: the other one won
            winner = await self.repo.find_document(org_id, collection_id, key)
            if winner is None:
                raise
            return winner, True
        await self.queue.submit(org_id, doc.id)
        return doc, False

    async def document(self, org_id: str, collection_id: str, document_id: str) -> Document:
        found = await self.repo.get_document(org_id, document_id)
        if found is None or found.collection_id != collection_id:
            raise NotFound("document not found", code="document_not_found")
        return found

    async def list_documents(
        self, org_id: str, collection_id: str, *, limit: int, cursor: str | None,
    ) -> Page[Document]:
        await self.collection(org_id, collection_id)
        return await self.repo.list_documents(org_id, collection_id, limit=limit, cursor=cursor)

    async def delete_document(self, org_id: str, collection_id: str, document_id: str) -> None:
        collection = await self.collection(org_id, collection_id)
        await self.document(org_id, collection_id, document_id)
        await self.repo.delete_document(org_id, document_id)
        await self.chunks.delete_document(collection, document_id)

    async def search(self, org_id: str, collection_id: str, query: SearchQuery) -> list[Hit]:
        return await self.searcher.search(await self.collection(org_id, collection_id), query)
