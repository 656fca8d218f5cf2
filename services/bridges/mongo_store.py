"""MongoDB adapter of the bridge store (collections `bridges`, `bridge_versions`), on the
shared client. A version's `_id` is `<bridge_id>:<version>`."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.bridges.model import Bridge, BridgeVersion
from services.bridges.store import slug_taken, version_exists
from services.config.mongo_client import MongoDatabase, find_page, from_doc, from_docs, to_doc
from services.config.paging import Page, page_of

LIVE = {"deleted": False}


def _version_from(doc: dict[str, Any] | None) -> BridgeVersion | None:
    if doc is None:
        return None
    return BridgeVersion.model_validate({k: v for k, v in doc.items() if k != "_id"})


class MongoBridgeStore:
    def __init__(self, mongo: MongoDatabase) -> None:
        self._mongo = mongo

    @property
    def _bridges(self) -> Any:
        return self._mongo.db.bridges

    @property
    def _versions(self) -> Any:
        return self._mongo.db.bridge_versions

    async def connect(self) -> None:
        # create_index is a no-op when the index exists.
        # Unique among live bridges only: a deleted bridge frees its slug for reuse.
        await self._bridges.create_index(
            [("org_id", ASCENDING), ("slug", ASCENDING)], unique=True,
            partialFilterExpression={"deleted": False}, name="org_slug_live",
        )
        await self._bridges.create_index([("org_id", ASCENDING), ("_id", ASCENDING)])
        await self._versions.create_index(
            [("bridge_id", ASCENDING), ("version", ASCENDING)], unique=True,
        )

    async def insert_bridge(self, bridge: Bridge) -> None:
        try:
            await self._bridges.insert_one(to_doc(bridge))
        except DuplicateKeyError as exc:
            raise slug_taken(bridge.slug) from exc

    async def get_bridge(self, org_id: str, bridge_id: str) -> Bridge | None:
        return from_doc(Bridge, await self._bridges.find_one(
            {"_id": bridge_id, "org_id": org_id, **LIVE}
        ))

    async def find_bridge_by_slug(self, org_id: str, slug: str) -> Bridge | None:
        return from_doc(Bridge, await self._bridges.find_one(
            {"org_id": org_id, "slug": slug, **LIVE}
        ))

    async def list_bridges(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Bridge]:
        query: dict[str, Any] = {"org_id": org_id, **LIVE}
        if cursor:
            query["_id"] = {"$gt": cursor}
        docs = await find_page(self._bridges, query, "_id", ASCENDING, limit + 1)
        return page_of(from_docs(Bridge, docs), limit, lambda b: b.id)

    async def update_bridge(
        self, org_id: str, bridge_id: str, changes: dict[str, Any]
    ) -> Bridge | None:
        changes = {k: v for k, v in changes.items() if k != "id"}
        try:
            doc = await self._bridges.find_one_and_update(
                {"_id": bridge_id, "org_id": org_id, **LIVE}, {"$set": changes},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise slug_taken(str(changes.get("slug"))) from exc
        return from_doc(Bridge, doc)

    async def delete_bridge(self, org_id: str, bridge_id: str) -> bool:
        result = await self._bridges.update_one(
            {"_id": bridge_id, "org_id": org_id, **LIVE},
            {"$set": {"deleted": True, "deleted_at": time.time()}},
        )
        return bool(result.matched_count)

    async def reserve_version(self, org_id: str, bridge_id: str) -> int | None:
        doc = await self._bridges.find_one_and_update(
            {"_id": bridge_id, "org_id": org_id, **LIVE}, {"$inc": {"latest_version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["latest_version"]) if doc else None

    async def insert_version(self, version: BridgeVersion) -> None:
        doc = version.model_dump(mode="json")
        doc["_id"] = f"{version.bridge_id}:{version.version}"
        try:
            await self._versions.insert_one(doc)
        except DuplicateKeyError as exc:
            raise version_exists(version.version) from exc

    async def get_version(self, org_id: str, bridge_id: str, version: int) -> BridgeVersion | None:
        return _version_from(await self._versions.find_one(
            {"bridge_id": bridge_id, "org_id": org_id, "version": version}
        ))

    async def list_versions(
        self, org_id: str, bridge_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[BridgeVersion]:
        query: dict[str, Any] = {"bridge_id": bridge_id, "org_id": org_id}
        if cursor:
            query["version"] = {"$lt": int(cursor)}
        docs = await find_page(self._versions, query, "version", DESCENDING, limit + 1)
        rows = [v for v in (_version_from(d) for d in docs) if v is not None]
        return page_of(rows, limit, lambda v: v.version)

    async def point_to_version(
        self, org_id: str, bridge_id: str, version: int, *, only_if_latest: bool
    ) -> Bridge | None:
        query: dict[str, Any] = {"_id": bridge_id, "org_id": org_id, **LIVE}
        if only_if_latest:
            query["latest_version"] = version
        doc = await self._bridges.find_one_and_update(
            query, {"$set": {"published_version": version, "updated_at": time.time()}},
            return_document=ReturnDocument.AFTER,
        )
        return from_doc(Bridge, doc)
