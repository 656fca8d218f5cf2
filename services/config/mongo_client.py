"""The process's one MongoDB client, shared by every domain's Mongo store.

PyMongo's async API (`AsyncMongoClient`) pools connections per client, so one client per
process serves the keys, bridges and credentials stores alike. The client is created in
`connect`, never at import or construction. The constructor also takes a database object
directly, which is how tests run the Mongo stores on an async wrapper over mongomock.

Documents store a model's `id` as `_id`, so no ObjectId ever leaks into a model.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo import AsyncMongoClient

from config import MongoSettings

M = TypeVar("M", bound=BaseModel)


class MongoDatabase:
    def __init__(self, settings: MongoSettings | None = None, *, database: Any = None) -> None:
        if settings is None and database is None:
            raise ValueError("MongoDatabase needs settings or a database")
        self._settings = settings
        self._client: AsyncMongoClient[Any] | None = None
        self._db = database

    @property
    def db(self) -> Any:
        if self._db is None:
            raise RuntimeError("MongoDatabase.connect() was not awaited")
        return self._db

    async def connect(self) -> None:
        if self._db is None:
            assert self._settings is not None and self._settings.url
            self._client = AsyncMongoClient(self._settings.url, appname="ai-middleware")
            self._db = self._client[self._settings.database]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._db = None

    async def ping(self) -> None:
        await self.db.command("ping")


def to_doc(model: BaseModel) -> dict[str, Any]:
    doc: dict[str, Any] = model.model_dump(mode="json")
    doc["_id"] = doc.pop("id")
    return doc


def from_doc(cls: type[M], doc: dict[str, Any] | None) -> M | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    return cls.model_validate(doc)


async def find_page(
    collection: Any, query: dict[str, Any], key: str, direction: int, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` documents matching `query`, sorted on `key`."""
    rows: list[dict[str, Any]] = await (
        collection.find(query).sort(key, direction).limit(limit).to_list(None)
    )
    return rows


def from_docs(cls: type[M], docs: list[dict[str, Any]]) -> list[M]:
    return [m for m in (from_doc(cls, d) for d in docs) if m is not None]
