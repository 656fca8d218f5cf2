"""MongoDB adapter of the API key store (collection `api_keys`), on the shared client."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from services.auth.keys import ApiKey
from services.config.mongo_client import MongoDatabase, from_doc, from_docs, to_doc


class MongoApiKeyStore:
    def __init__(self, mongo: MongoDatabase) -> None:
        self._mongo = mongo

    @property
    def _keys(self) -> Any:
        return self._mongo.db.api_keys

    async def connect(self) -> None:
        # create_index is a no-op when the index exists.
        await self._keys.create_index("key_hash", unique=True)
        await self._keys.create_index([("org_id", ASCENDING), ("created_at", ASCENDING)])

    async def add_api_key(self, key: ApiKey) -> None:
        await self._keys.insert_one(to_doc(key))

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        return from_doc(ApiKey, await self._keys.find_one({"key_hash": key_hash, "revoked": False}))

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        cursor = self._keys.find({"org_id": org_id}).sort("created_at", ASCENDING)
        return from_docs(ApiKey, await cursor.to_list(None))

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        result = await self._keys.update_one(
            {"_id": key_id, "org_id": org_id}, {"$set": {"revoked": True}}
        )
        return bool(result.matched_count)
