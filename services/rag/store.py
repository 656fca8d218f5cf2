"""The repository of RAG collections and documents (and each queued document's source
bytes until ingestion has read them). Adapters: memory_store (dicts saved under `.data/`)
and mongo_store (MongoDB). Every read takes the org: another org's object is not found.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.config.paging import Page
from services.rag.model import Collection, Document


class RagRepository(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def create_collection(self, collection: Collection) -> Collection:
        """Store a new collection; `Conflict` when the org already has one of that name."""

    async def get_collection(self, org_id: str, collection_id: str) -> Collection | None: ...

    async def list_collections(self, org_id: str, *, limit: int, cursor: str | None = None) -> Page[Collection]: ...

    async def update_collection(
        self, org_id: str, collection_id: str, changes: dict[str, Any],
    ) -> Collection | None: ...

    async def delete_collection(self, org_id: str, collection_id: str) -> bool:
        """Delete the collection and all its documents and sources."""

    async def save_document(self, document: Document) -> None:
        """Insert or replace by id; `Conflict` when another document has the same key."""

    async def get_document(self, org_id: str, document_id: str) -> Document | None: ...

    async def find_document(self, org_id: str, collection_id: str, key: str) -> Document | None: ...

    async def list_documents(
        self, org_id: str, collection_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[Document]: ...

    async def update_document(self, org_id: str, document_id: str, changes: dict[str, Any]) -> Document | None: ...

    async def delete_document(self, org_id: str, document_id: str) -> bool: ...

    async def put_source(self, document_id: str, data: bytes) -> None: ...

    async def get_source(self, document_id: str) -> bytes | None: ...

    async def drop_source(self, document_id: str) -> None: ...
