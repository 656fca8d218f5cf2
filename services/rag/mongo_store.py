"""MongoDB adapter of the RAG repository (PyMongo's async API).

Collections: `rag_collections`, `rag_documents` (unique on org + collection + key, which is
what makes a re-submitted document find its earlier self), `rag_sources` (a queued
document's bytes, deleted once ingestion has read them; 16 MB BSON limit, above the 10 MB
upload limit). `_id` is the model's id. The constructor also takes a database object,
which is how tests run it over async-wrapped mongomock.
"""

from __future__ import annotations

import time
from typing import Any

from bson import Binary
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.config.mongo_client import MongoDatabase
from services.config.paging import Page, page_of
from services.errors import Conflict
from services.rag.model import Collection, Document


def _doc(model: Collection | Document) -> dict[str, Any]:
    doc: dict[str, Any] = model.model_dump(mode="json")
    doc["_id"] = doc.pop("id")
    return doc


def _from(cls: Any, doc: dict[str, Any] | None) -> Any:
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    return cls.model_validate(doc)


class MongoRagRepository(MongoDatabase):
    """Opens the process's shared database when given one, else its own client at connect."""

    async def connect(self) -> None:
        await super().connect()
        await self.db.rag_collections.create_index([("org_id", ASCENDING), ("name", ASCENDING)], unique=True)
        await self.db.rag_documents.create_index(
            [("org_id", ASCENDING), ("collection_id", ASCENDING), ("key", ASCENDING)], unique=True)

    async def create_collection(self, collection: Collection) -> Collection:
        try:
            await self.db.rag_collections.insert_one(_doc(collection))
        except DuplicateKeyError as exc:
            raise Conflict(f"a collection named {collection.name!r} exists", code="name_taken") from exc
        return collection

    async def get_collection(self, org_id: str, collection_id: str) -> Collection | None:
        found = await self.db.rag_collections.find_one({"_id": collection_id, "org_id": org_id})
        return _from(Collection, found)  # type: ignore[no-any-return]

    async def list_collections(self, org_id: str, *, limit: int, cursor: str | None = None) -> Page[Collection]:
        query: dict[str, Any] = {"org_id": org_id}
        if cursor:
            query["_id"] = {"$gt": cursor}
        rows = await self.db.rag_collections.find(query).sort("_id", ASCENDING).limit(limit + 1).to_list(None)
        return page_of([_from(Collection, r) for r in rows], limit, lambda c: c.id)

    async def update_collection(self, org_id: str, collection_id: str, changes: dict[str, Any]) -> Collection | None:
        found = await self.get_collection(org_id, collection_id)
        if found is None:
            return None
        updated = found.model_copy(update={**changes, "updated_at": time.time()})
        try:
            await self.db.rag_collections.replace_one({"_id": collection_id, "org_id": org_id}, _doc(updated))
        except DuplicateKeyError as exc:
            raise Conflict(f"a collection named {changes.get('name')!r} exists", code="name_taken") from exc
        return updated

    async def delete_collection(self, org_id: str, collection_id: str) -> bool:
        result = await self.db.rag_collections.delete_one({"_id": collection_id, "org_id": org_id})
        if not result.deleted_count:
            return False
        ids = [d["_id"] for d in await self.db.rag_documents.find(
            {"org_id": org_id, "collection_id": collection_id}, {"_id": 1}).to_list(None)]
        await self.db.rag_documents.delete_many({"org_id": org_id, "collection_id": collection_id})
        await self.db.rag_sources.delete_many({"_id": {"$in": ids}})
        return True

    async def save_document(self, document: Document) -> None:
        try:
            await self.db.rag_documents.replace_one({"_id": document.id}, _doc(document), upsert=True)
        except DuplicateKeyError as exc:
            raise Conflict("a document with this key exists", code="document_exists") from exc

    async def get_document(self, org_id: str, document_id: str) -> Document | None:
        found = await self.db.rag_documents.find_one({"_id": document_id, "org_id": org_id})
        return _from(Document, found)  # type: ignore[no-any-return]

    async def find_document(self, org_id: str, collection_id: str, key: str) -> Document | None:
        found = await self.db.rag_documents.find_one({"org_id": org_id, "collection_id": collection_id, "key": key})
        return _from(Document, found)  # type: ignore[no-any-return]

    async def list_documents(
        self, org_id: str, collection_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[Document]:
        query: dict[str, Any] = {"org_id": org_id, "collection_id": collection_id}
        if cursor:
            query["_id"] = {"$gt": cursor}
        rows = await self.db.rag_documents.find(query).sort("_id", ASCENDING).limit(limit + 1).to_list(None)
        return page_of([_from(Document, r) for r in rows], limit, lambda d: d.id)

    async def update_document(self, org_id: str, document_id: str, changes: dict[str, Any]) -> Document | None:
        found = await self.get_document(org_id, document_id)
        if found is None:
            return None
        updated = found.model_copy(update={**changes, "updated_at": time.time()})
        await self.db.rag_documents.replace_one({"_id": document_id, "org_id": org_id}, _doc(updated))
        return updated

    async def delete_document(self, org_id: str, document_id: str) -> bool:
        result = await self.db.rag_documents.delete_one({"_id": document_id, "org_id": org_id})
        if not result.deleted_count:
            return False
        await self.drop_source(document_id)
        return True

    async def put_source(self, document_id: str, data: bytes) -> None:
        await self.db.rag_sources.replace_one({"_id": document_id}, {"_id": document_id, "data": Binary(data)},
                                               upsert=True)

    async def get_source(self, document_id: str) -> bytes | None:
        found = await self.db.rag_sources.find_one({"_id": document_id})
        return bytes(found["data"]) if found else None

    async def drop_source(self, document_id: str) -> None:
        await self.db.rag_sources.delete_one({"_id": document_id})
