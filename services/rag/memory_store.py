"""The embedded RAG repository: dicts, saved to `<data_dir>/rag/repository.json` on every
write, and sources as files under `<data_dir>/rag/sources/`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from services.config.paging import Page, page_of
from services.errors import Conflict
from services.rag.model import Collection, Document


class MemoryRagRepository:
    def __init__(self, data_dir: Path | str | None = None) -> None:
        self._dir = Path(data_dir) / "rag" if data_dir is not None else None
        self._collections: dict[str, Collection] = {}
        self._documents: dict[str, Document] = {}
        self._sources: dict[str, bytes] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        path = self._file()
        if path is None or not path.exists() or self._collections:
            return
        data = orjson.loads(path.read_bytes())
        self._collections = {c["id"]: Collection.model_validate(c) for c in data["collections"]}
        self._documents = {d["id"]: Document.model_validate(d) for d in data["documents"]}

    async def close(self) -> None:
        return None

    def _file(self) -> Path | None:
        return self._dir / "repository.json" if self._dir is not None else None

    def _save(self) -> None:
        path = self._file()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"collections": [c.model_dump(mode="json") for c in self._collections.values()],
                "documents": [d.model_dump(mode="json") for d in self._documents.values()]}
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(body))
        tmp.replace(path)

    async def create_collection(self, collection: Collection) -> Collection:
        async with self._lock:
            if any(c.org_id == collection.org_id and c.name == collection.name
                   for c in self._collections.values()):
                raise Conflict(f"a collection named {collection.name!r} exists", code="name_taken")
            self._collections[collection.id] = collection.model_copy(deep=True)
            self._save()
        return collection

    async def get_collection(self, org_id: str, collection_id: str) -> Collection | None:
        found = self._collections.get(collection_id)
        return found.model_copy(deep=True) if found and found.org_id == org_id else None

    async def list_collections(self, org_id: str, *, limit: int, cursor: str | None = None) -> Page[Collection]:
        rows = sorted((c for c in self._collections.values()
                       if c.org_id == org_id and (cursor is None or c.id > cursor)), key=lambda c: c.id)
        return page_of([c.model_copy(deep=True) for c in rows[: limit + 1]], limit, lambda c: c.id)

    async def update_collection(self, org_id: str, collection_id: str, changes: dict[str, Any]) -> Collection | None:
        async with self._lock:
            found = await self.get_collection(org_id, collection_id)
            if found is None:
                return None
            if "name" in changes and any(c.org_id == org_id and c.name == changes["name"] and c.id != collection_id
                                         for c in self._collections.values()):
                raise Conflict(f"a collection named {changes['name']!r} exists", code="name_taken")
            updated = found.model_copy(update={**changes, "updated_at": time.time()})
            self._collections[collection_id] = updated
            self._save()
            return updated.model_copy(deep=True)

    async def delete_collection(self, org_id: str, collection_id: str) -> bool:
        async with self._lock:
            if await self.get_collection(org_id, collection_id) is None:
                return False
            del self._collections[collection_id]
            for doc_id in [d.id for d in self._documents.values() if d.collection_id == collection_id]:
                del self._documents[doc_id]
                await self.drop_source(doc_id)
            self._save()
            return True

    async def save_document(self, document: Document) -> None:
        async with self._lock:
            same_key = await self.find_document(document.org_id, document.collection_id, document.key)
            if same_key is not None and same_key.id != document.id:
                raise Conflict("a document with this key exists", code="document_exists")
            self._documents[document.id] = document.model_copy(deep=True)
            self._save()

    async def get_document(self, org_id: str, document_id: str) -> Document | None:
        found = self._documents.get(document_id)
        return found.model_copy(deep=True) if found and found.org_id == org_id else None

    async def find_document(self, org_id: str, collection_id: str, key: str) -> Document | None:
        for doc in self._documents.values():
            if doc.org_id == org_id and doc.collection_id == collection_id and doc.key == key:
                return doc.model_copy(deep=True)
        return None

    async def list_documents(
        self, org_id: str, collection_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[Document]:
        rows = sorted((d for d in self._documents.values()
                       if d.org_id == org_id and d.collection_id == collection_id
                       and (cursor is None or d.id > cursor)), key=lambda d: d.id)
        return page_of([d.model_copy(deep=True) for d in rows[: limit + 1]], limit, lambda d: d.id)

    async def update_document(self, org_id: str, document_id: str, changes: dict[str, Any]) -> Document | None:
        async with self._lock:
            found = await self.get_document(org_id, document_id)
            if found is None:
                return None
            updated = found.model_copy(update={**changes, "updated_at": time.time()})
            self._documents[document_id] = updated
            self._save()
            return updated.model_copy(deep=True)

    async def delete_document(self, org_id: str, document_id: str) -> bool:
        async with self._lock:
            if await self.get_document(org_id, document_id) is None:
                return False
            del self._documents[document_id]
            await self.drop_source(document_id)
            self._save()
            return True

    def _source_path(self, document_id: str) -> Path | None:
        return self._dir / "sources" / document_id if self._dir is not None else None

    async def put_source(self, document_id: str, data: bytes) -> None:
        path = self._source_path(document_id)
        if path is None:
            self._sources[document_id] = data
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    async def get_source(self, document_id: str) -> bytes | None:
        path = self._source_path(document_id)
        if path is None:
            return self._sources.get(document_id)
        return path.read_bytes() if path.exists() else None

    async def drop_source(self, document_id: str) -> None:
        path = self._source_path(document_id)
        if path is None:
            self._sources.pop(document_id, None)
        else:
            path.unlink(missing_ok=True)
