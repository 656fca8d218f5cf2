"""MongoDB adapter of the chatbot auth store: collection `chatbot_auth`, `_id` = org id
(one record per org, so the primary key is the only index its queries need)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from config import MongoSettings
from services.auth.enduser.model import ChatbotAuth


class MongoChatbotAuthStore:
    def __init__(self, settings: MongoSettings | None = None, *, database: Any = None) -> None:
        if settings is None and database is None:
            raise ValueError("MongoChatbotAuthStore needs settings or a database")
        self._settings = settings
        self._client: AsyncMongoClient[Any] | None = None
        self._db = database

    @property
    def db(self) -> Any:
        if self._db is None:
            raise RuntimeError("MongoChatbotAuthStore.connect() was not awaited")
        return self._db

    async def connect(self) -> None:
        if self._db is None:
            assert self._settings is not None and self._settings.url
            self._client = AsyncMongoClient(self._settings.url, appname="ai-middleware-chatbot-auth")
            self._db = self._client[self._settings.database]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._db = None

    async def get(self, org_id: str) -> ChatbotAuth | None:
        doc = await self.db.chatbot_auth.find_one({"_id": org_id})
        return ChatbotAuth.model_validate(doc) if doc else None

    async def put(self, record: ChatbotAuth) -> None:
        doc = record.model_dump(mode="json")
        await self.db.chatbot_auth.replace_one({"_id": record.org_id}, {"_id": record.org_id, **doc}, upsert=True)

    async def delete(self, org_id: str) -> bool:
        result = await self.db.chatbot_auth.delete_one({"_id": org_id})
        return bool(result.deleted_count)
