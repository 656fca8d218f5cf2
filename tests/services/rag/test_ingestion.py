"""Ingestion end to end on the embedded path (in-process queue) over both chunk stores:
documents become searchable chunks; the same content again is a no-op; a changed document
replaces its chunks; deleting removes them; another org sees none of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import Invalid, NotFound
from services.rag.chunks.store import ChunkStore
from services.rag.ingest.queue import InProcessIngest
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import DocumentStatus, SourceKind
from services.rag.schemas import CollectionCreate
from services.rag.search import SearchMode, SearchQuery
from tests.services.rag.support import corpus, rag_service


async def test_fifty_documents_ingested_searchable_idempotent(chunk_store: ChunkStore, tmp_path: Path) -> None:
    service, _ = rag_service(MemoryRagRepository(tmp_path), chunk_store)
    queue = service.queue
    assert isinstance(queue, InProcessIngest)
    col = await service.create_collection("org_a", CollectionCreate(name="animals"))
    docs = {}
    for name, text in corpus(50):
        doc, unchanged = await service.add_document("org_a", col.id, kind=SourceKind.MARKDOWN,
                                                    data=text.encode(), external_id=name)
        assert not unchanged
        docs[name] = doc.id
    await queue.drain()
    listed = (await service.list_documents("org_a", col.id, limit=100, cursor=None)).items
    assert len(listed) == 50 and all(d.status is DocumentStatus.READY and d.chunk_count == 2 for d in listed)
    assert await chunk_store.count(col) == 100

    for mode in SearchMode:
        hits = await service.search("org_a", col.id, SearchQuery(query="what does zorblat17 eat", k=3, mode=mode))
        assert docs["zorblat17"] in {h.chunk.document_id for h in hits}, mode

    # The same content again: nothing queued, nothing re-indexed.
    again, unchanged = await service.add_document("org_a", col.id, kind=SourceKind.MARKDOWN,
                                                  data=corpus(50)[17][1].encode(), external_id="zorblat17")
    assert unchanged and again.id == docs["zorblat17"] and again.status is DocumentStatus.READY

    # A changed document replaces its chunks.
    await service.add_document("org_a", col.id, kind=SourceKind.TEXT, data=b"zorblat17 moved to the moon.",
                               external_id="zorblat17")
    await queue.drain()
    doc = await service.document("org_a", col.id, docs["zorblat17"])
    assert doc.status is DocumentStatus.READY and doc.chunk_count == 1
    assert await chunk_store.count(col) == 99
    hits = await service.search("org_a", col.id, SearchQuery(query="zorblat17", k=1, mode=SearchMode.KEYWORD))
    assert hits[0].chunk.text == "zorblat17 moved to the moon."

    # Deleting a document deletes its chunks.
    await service.delete_document("org_a", col.id, docs["zorblat3"])
    assert await chunk_store.count(col) == 97
    hits = await service.search("org_a", col.id, SearchQuery(query="zorblat3", k=5, mode=SearchMode.KEYWORD))
    assert docs["zorblat3"] not in {h.chunk.document_id for h in hits}


async def test_another_org_cannot_see_or_touch(chunk_store: ChunkStore, tmp_path: Path) -> None:
    service, _ = rag_service(MemoryRagRepository(tmp_path), chunk_store)
    col = await service.create_collection("org_a", CollectionCreate(name="secret"))
    doc, _ = await service.add_document("org_a", col.id, kind=SourceKind.TEXT, data=b"the launch code is 1234")
    assert isinstance(service.queue, InProcessIngest)
    await service.queue.drain()
    for call in (
        service.collection("org_b", col.id),
        service.document("org_b", col.id, doc.id),
        service.search("org_b", col.id, SearchQuery(query="launch code")),
        service.delete_document("org_b", col.id, doc.id),
        service.delete_collection("org_b", col.id),
        service.add_document("org_b", col.id, kind=SourceKind.TEXT, data=b"x"),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await service.list_collections("org_b", limit=10, cursor=None)).items == []
    assert await chunk_store.count(col) == 1


async def test_unsafe_url_refused_on_save(chunk_store: ChunkStore, tmp_path: Path) -> None:
    service, _ = rag_service(MemoryRagRepository(tmp_path), chunk_store)
    col = await service.create_collection("org_a", CollectionCreate(name="web"))
    with pytest.raises(Invalid) as bad:
        await service.add_document("org_a", col.id, kind=SourceKind.URL, url="http://127.0.0.1:9/x")
    assert bad.value.field == "url" and "loopback" in bad.value.message


async def test_bad_document_fails_with_its_error(chunk_store: ChunkStore, tmp_path: Path) -> None:
    service, _ = rag_service(MemoryRagRepository(tmp_path), chunk_store)
    col = await service.create_collection("org_a", CollectionCreate(name="pdfs"))
    doc, _ = await service.add_document("org_a", col.id, kind=SourceKind.PDF, data=b"%PDF-1.4 not really",
                                        filename="x.pdf")
    assert isinstance(service.queue, InProcessIngest)
    await service.queue.drain()
    failed = await service.document("org_a", col.id, doc.id)
    assert failed.status is DocumentStatus.FAILED and failed.error and "PDF" in failed.error
