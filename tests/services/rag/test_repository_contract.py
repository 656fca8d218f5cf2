"""One contract for the RAG repository: memory (with its file), Mongo through async
mongomock, and PyMongo over TCP to the wire front and to a real MongoDB
(tests/mongo_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.errors import Conflict
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import Collection, Document, DocumentStatus, SourceKind
from services.rag.mongo_store import MongoRagRepository
from services.rag.store import RagRepository
from tests.mongo_support import SERVER_LEGS, server_settings
from tests.services.config.mongomock_async import async_mongomock_database


@pytest.fixture(params=["memory", "mongomock", *SERVER_LEGS])
async def repo(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[RagRepository]:
    store: RagRepository
    if request.param == "memory":
        store = MemoryRagRepository(tmp_path)
    elif request.param == "mongomock":
        store = MongoRagRepository(database=async_mongomock_database())
    else:
        store = MongoRagRepository(server_settings(request, request.param, unique))
    await store.connect()
    yield store
    await store.close()


def _doc(col: Collection, key: str = "k1", **kw: object) -> Document:
    return Document(org_id=col.org_id, collection_id=col.id, key=key, kind=SourceKind.TEXT,
                    content_hash="h1", **kw)  # type: ignore[arg-type]


async def test_collections_are_per_org_with_unique_names(repo: RagRepository) -> None:
    col = await repo.create_collection(Collection(org_id="a", name="docs"))
    await repo.create_collection(Collection(org_id="b", name="docs"))
    with pytest.raises(Conflict):
        await repo.create_collection(Collection(org_id="a", name="docs"))
    assert (await repo.get_collection("a", col.id)) == col
    assert await repo.get_collection("b", col.id) is None
    assert [c.id for c in (await repo.list_collections("a", limit=10)).items] == [col.id]
    assert await repo.update_collection("b", col.id, {"description": "x"}) is None
    updated = await repo.update_collection("a", col.id, {"description": "manuals"})
    assert updated is not None and updated.description == "manuals"
    assert await repo.delete_collection("b", col.id) is False
    assert await repo.delete_collection("a", col.id) is True
    assert await repo.get_collection("a", col.id) is None


async def test_collections_page_in_creation_order(repo: RagRepository) -> None:
    made = [await repo.create_collection(Collection(org_id="a", name=f"c{i}")) for i in range(5)]
    first = await repo.list_collections("a", limit=3)
    rest = await repo.list_collections("a", limit=3, cursor=first.next_cursor)
    assert [c.id for c in first.items + rest.items] == [c.id for c in made]
    assert rest.next_cursor is None


async def test_documents_found_by_key_updated_and_deleted(repo: RagRepository) -> None:
    col = await repo.create_collection(Collection(org_id="a", name="docs"))
    doc = _doc(col)
    await repo.save_document(doc)
    with pytest.raises(Conflict):
        await repo.save_document(_doc(col))  # same key, another id
    found = await repo.find_document("a", col.id, "k1")
    assert found is not None and found.id == doc.id
    assert await repo.find_document("b", col.id, "k1") is None
    assert await repo.get_document("b", doc.id) is None
    done = await repo.update_document("a", doc.id, {"status": DocumentStatus.READY, "chunk_count": 4})
    assert done is not None and done.status is DocumentStatus.READY and done.chunk_count == 4
    assert [d.id for d in (await repo.list_documents("a", col.id, limit=10)).items] == [doc.id]
    assert (await repo.list_documents("b", col.id, limit=10)).items == []
    assert await repo.delete_document("b", doc.id) is False
    assert await repo.delete_document("a", doc.id) is True
    assert await repo.get_document("a", doc.id) is None


async def test_sources_and_cascade(repo: RagRepository) -> None:
    col = await repo.create_collection(Collection(org_id="a", name="docs"))
    doc = _doc(col)
    await repo.save_document(doc)
    await repo.put_source(doc.id, b"\x00raw bytes")
    assert await repo.get_source(doc.id) == b"\x00raw bytes"
    assert await repo.delete_collection("a", col.id)
    assert await repo.get_document("a", doc.id) is None
    assert await repo.get_source(doc.id) is None


async def test_memory_repository_survives_a_restart(tmp_path: Path) -> None:
    repo = MemoryRagRepository(tmp_path)
    col = await repo.create_collection(Collection(org_id="a", name="docs"))
    await repo.save_document(_doc(col))
    again = MemoryRagRepository(tmp_path)
    await again.connect()
    assert await again.get_collection("a", col.id) == col
    assert await again.find_document("a", col.id, "k1") is not None
