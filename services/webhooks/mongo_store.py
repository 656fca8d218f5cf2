"""MongoDB adapter of the webhook configuration store: collections `webhook_endpoints` (one
document per endpoint, secrets included) and `webhook_secrets` (`_id` = org id)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.config.mongo_client import MongoDatabase, from_doc, from_docs, to_doc
from services.webhooks.models import Endpoint, SigningSecret


class MongoWebhookConfigStore:
    def __init__(self, mongo: MongoDatabase) -> None:
        self._mongo = mongo

    @property
    def _endpoints(self) -> Any:
        return self._mongo.db.webhook_endpoints

    @property
    def _secrets(self) -> Any:
        return self._mongo.db.webhook_secrets

    async def connect(self) -> None:
        await self._endpoints.create_index([("org_id", ASCENDING), ("created_at", ASCENDING)])

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        doc = to_doc(endpoint)
        await self._endpoints.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        return from_doc(Endpoint, await self._endpoints.find_one({"_id": endpoint_id, "org_id": org_id}))

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        cursor = self._endpoints.find({"org_id": org_id}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return from_docs(Endpoint, await cursor.to_list(None))

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        result = await self._endpoints.delete_one({"_id": endpoint_id, "org_id": org_id})
        return bool(result.deleted_count)

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        doc = await self._secrets.find_one({"_id": org_id})
        if doc is None:
            # Insert-if-absent then read: whichever process came first, everyone signs with it.
            try:
                await self._secrets.insert_one({"_id": org_id, "secrets": [s.model_dump() for s in initial]})
            except DuplicateKeyError:
                pass
            doc = await self._secrets.find_one({"_id": org_id})
        return [SigningSecret.model_validate(s) for s in (doc or {}).get("secrets", [])]

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None:
        await self._secrets.replace_one(
            {"_id": org_id}, {"_id": org_id, "secrets": [s.model_dump() for s in items]}, upsert=True)
