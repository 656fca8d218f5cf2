"""MongoDB adapter of the credential store (collection `credentials`), on the shared client."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.config.mongo_client import MongoDatabase, find_page, from_doc, from_docs, to_doc
from services.config.paging import Page, page_of
from services.credentials.model import Credential


class MongoCredentialStore:
    def __init__(self, mongo: MongoDatabase) -> None:
        self._mongo = mongo

    @property
    def _creds(self) -> Any:
        return self._mongo.db.credentials

    async def connect(self) -> None:
        # create_index is a no-op when the index exists.
        await self._creds.create_index([("org_id", ASCENDING), ("provider", ASCENDING)], unique=True)
        await self._creds.create_index("key_id")

    async def put_credential(self, credential: Credential) -> Credential:
        doc = to_doc(credential)
        fixed = {"_id": doc.pop("_id"), "created_at": doc.pop("created_at")}
        for attempt in range(2):
            try:
                stored = await self._creds.find_one_and_update(
                    {"org_id": credential.org_id, "provider": credential.provider},
                    {"$set": doc, "$setOnInsert": fixed},
                    upsert=True, return_document=ReturnDocument.AFTER,
                )
                found = from_doc(Credential, stored)
                assert found is not None  # an upsert returning AFTER always has a document
                return found
            except DuplicateKeyError:
                # Two concurrent first writes: the loser retries as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def get_credential(self, org_id: str, provider: str) -> Credential | None:
        return from_doc(Credential, await self._creds.find_one({"org_id": org_id, "provider": provider}))

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None:
        return from_doc(Credential, await self._creds.find_one({"_id": credential_id, "org_id": org_id}))

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]:
        query: dict[str, Any] = {"org_id": org_id}
        if cursor:
            query["_id"] = {"$gt": cursor}
        docs = await find_page(self._creds, query, "_id", ASCENDING, limit + 1)
        return page_of(from_docs(Credential, docs), limit, lambda c: c.id)

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        return from_doc(Credential, await self._creds.find_one_and_delete(
            {"_id": credential_id, "org_id": org_id}
        ))

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        docs = await find_page(self._creds, {"key_id": {"$ne": key_id}}, "_id", ASCENDING, limit)
        return from_docs(Credential, docs)
