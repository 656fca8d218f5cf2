"""MongoDB adapter of the config store, on PyMongo's async API (`AsyncMongoClient`).

Collections: `api_keys`, `bridges`, `bridge_versions`, `credentials`. Each document's `_id`
is the model's id, so no ObjectId ever leaks into a model. Indexes are created at connect
(create_index is a no-op when the index exists). The constructor also takes a database
object directly, which is how tests run this adapter on an async wrapper over mongomock.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from config import MongoSettings
from services.auth.keys import ApiKey
from services.bridges.model import Bridge, BridgeVersion
from services.config.memory import slug_taken
from services.config.paging import Page, page_of
from services.credentials.model import Credential
from services.errors import Conflict

LIVE = {"deleted": False}


def _doc(model: Any) -> dict[str, Any]:
    doc: dict[str, Any] = model.model_dump(mode="json")
    doc["_id"] = doc.pop("id")
    return doc


def _from(cls: Any, doc: dict[str, Any] | None) -> Any:
    if doc is None:
        return None
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    return cls.model_validate(doc)


def _version_from(doc: dict[str, Any] | None) -> BridgeVersion | None:
    if doc is None:
        return None
    return BridgeVersion.model_validate({k: v for k, v in doc.items() if k != "_id"})


class MongoConfigStore:
    def __init__(self, settings: MongoSettings | None = None, *, database: Any = None) -> None:
        if settings is None and database is None:
            raise ValueError("MongoConfigStore needs settings or a database")
        self._settings = settings
        self._client: AsyncMongoClient[Any] | None = None
        self._db = database

    @property
    def db(self) -> Any:
        if self._db is None:
            raise RuntimeError("MongoConfigStore.connect() was not awaited")
        return self._db

    async def connect(self) -> None:
        if self._db is None:
            assert self._settings is not None and self._settings.url
            self._client = AsyncMongoClient(self._settings.url, appname="ai-middleware")
            self._db = self._client[self._settings.database]
        await self._ensure_indexes()

    async def _ensure_indexes(self) -> None:
        db = self.db
        await db.api_keys.create_index("key_hash", unique=True)
        await db.api_keys.create_index([("org_id", ASCENDING), ("created_at", ASCENDING)])
        # Unique among live bridges only: a deleted bridge frees its slug for reuse.
        await db.bridges.create_index(
            [("org_id", ASCENDING), ("slug", ASCENDING)], unique=True,
            partialFilterExpression={"deleted": False}, name="org_slug_live",
        )
        await db.bridges.create_index([("org_id", ASCENDING), ("_id", ASCENDING)])
        await db.bridge_versions.create_index(
            [("bridge_id", ASCENDING), ("version", ASCENDING)], unique=True,
        )
        await db.credentials.create_index(
            [("org_id", ASCENDING), ("provider", ASCENDING)], unique=True,
        )
        await db.credentials.create_index("key_id")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._db = None

    async def ping(self) -> None:
        await self.db.command("ping")

    @staticmethod
    async def _page(
        collection: Any, query: dict[str, Any], key: str, direction: int, limit: int
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await (
            collection.find(query).sort(key, direction).limit(limit).to_list(None)
        )
        return rows

    # Platform API keys.
    async def add_api_key(self, key: ApiKey) -> None:
        await self.db.api_keys.insert_one(_doc(key))

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        doc = await self.db.api_keys.find_one({"key_hash": key_hash, "revoked": False})
        found: ApiKey | None = _from(ApiKey, doc)
        return found

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        cursor = self.db.api_keys.find({"org_id": org_id}).sort("created_at", ASCENDING)
        return [_from(ApiKey, d) for d in await cursor.to_list(None)]

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        result = await self.db.api_keys.update_one(
            {"_id": key_id, "org_id": org_id}, {"$set": {"revoked": True}}
        )
        return bool(result.matched_count)

    # Bridges.
    async def insert_bridge(self, bridge: Bridge) -> None:
        try:
            await self.db.bridges.insert_one(_doc(bridge))
        except DuplicateKeyError as exc:
            raise slug_taken(bridge.slug) from exc

    async def get_bridge(self, org_id: str, bridge_id: str) -> Bridge | None:
        doc = await self.db.bridges.find_one({"_id": bridge_id, "org_id": org_id, **LIVE})
        found: Bridge | None = _from(Bridge, doc)
        return found

    async def find_bridge_by_slug(self, org_id: str, slug: str) -> Bridge | None:
        doc = await self.db.bridges.find_one({"org_id": org_id, "slug": slug, **LIVE})
        found: Bridge | None = _from(Bridge, doc)
        return found

    async def list_bridges(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Bridge]:
        query: dict[str, Any] = {"org_id": org_id, **LIVE}
        if cursor:
            query["_id"] = {"$gt": cursor}
        docs = await self._page(self.db.bridges, query, "_id", ASCENDING, limit + 1)
        return page_of([_from(Bridge, d) for d in docs], limit, lambda b: b.id)

    async def update_bridge(
        self, org_id: str, bridge_id: str, changes: dict[str, Any]
    ) -> Bridge | None:
        changes = {k: v for k, v in changes.items() if k != "id"}
        try:
            doc = await self.db.bridges.find_one_and_update(
                {"_id": bridge_id, "org_id": org_id, **LIVE}, {"$set": changes},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise slug_taken(str(changes.get("slug"))) from exc
        found: Bridge | None = _from(Bridge, doc)
        return found

    async def delete_bridge(self, org_id: str, bridge_id: str) -> bool:
        result = await self.db.bridges.update_one(
            {"_id": bridge_id, "org_id": org_id, **LIVE},
            {"$set": {"deleted": True, "deleted_at": time.time()}},
        )
        return bool(result.matched_count)

    async def reserve_version(self, org_id: str, bridge_id: str) -> int | None:
        doc = await self.db.bridges.find_one_and_update(
            {"_id": bridge_id, "org_id": org_id, **LIVE}, {"$inc": {"latest_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["latest_version"]) if doc else None

    async def insert_version(self, version: BridgeVersion) -> None:
        doc = version.model_dump(mode="json")
        doc["_id"] = f"{version.bridge_id}:{version.version}"
        try:
            await self.db.bridge_versions.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(
                f"version {version.version} already exists", code="version_exists"
            ) from exc

    async def get_version(self, org_id: str, bridge_id: str, version: int) -> BridgeVersion | None:
        return _version_from(await self.db.bridge_versions.find_one(
            {"bridge_id": bridge_id, "org_id": org_id, "version": version}
        ))

    async def list_versions(
        self, org_id: str, bridge_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[BridgeVersion]:
        query: dict[str, Any] = {"bridge_id": bridge_id, "org_id": org_id}
        if cursor:
            query["version"] = {"$lt": int(cursor)}
        docs = await self._page(self.db.bridge_versions, query, "version", DESCENDING, limit + 1)
        rows = [v for v in (_version_from(d) for d in docs) if v is not None]
        return page_of(rows, limit, lambda v: v.version)

    async def point_to_version(
        self, org_id: str, bridge_id: str, version: int, *, only_if_latest: bool
    ) -> Bridge | None:
        query: dict[str, Any] = {"_id": bridge_id, "org_id": org_id, **LIVE}
        if only_if_latest:
            query["latest_version"] = version
        doc = await self.db.bridges.find_one_and_update(
            query, {"$set": {"published_version": version, "updated_at": time.time()}},
            return_document=ReturnDocument.AFTER,
        )
        found: Bridge | None = _from(Bridge, doc)
        return found

    # Credentials.
    async def put_credential(self, credential: Credential) -> Credential:
        doc = _doc(credential)
        fixed = {"_id": doc.pop("_id"), "created_at": doc.pop("created_at")}
        for attempt in range(2):
            try:
                stored = await self.db.credentials.find_one_and_update(
                    {"org_id": credential.org_id, "provider": credential.provider},
                    {"$set": doc, "$setOnInsert": fixed},
                    upsert=True, return_document=ReturnDocument.AFTER,
                )
                found: Credential = _from(Credential, stored)
                return found
            except DuplicateKeyError:
                # Two concurrent first writes: the loser retries as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def get_credential(self, org_id: str, provider: str) -> Credential | None:
        doc = await self.db.credentials.find_one({"org_id": org_id, "provider": provider})
        found: Credential | None = _from(Credential, doc)
        return found

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None:
        doc = await self.db.credentials.find_one({"_id": credential_id, "org_id": org_id})
        found: Credential | None = _from(Credential, doc)
        return found

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]:
        query: dict[str, Any] = {"org_id": org_id}
        if cursor:
            query["_id"] = {"$gt": cursor}
        docs = await self._page(self.db.credentials, query, "_id", ASCENDING, limit + 1)
        return page_of([_from(Credential, d) for d in docs], limit, lambda c: c.id)

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        doc = await self.db.credentials.find_one_and_delete(
            {"_id": credential_id, "org_id": org_id}
        )
        found: Credential | None = _from(Credential, doc)
        return found

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        docs = await self._page(
            self.db.credentials, {"key_id": {"$ne": key_id}}, "_id", ASCENDING, limit
        )
        return [_from(Credential, d) for d in docs]
