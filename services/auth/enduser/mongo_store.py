"""MongoDB adapter of the chatbot auth store: collection `chatbot_auth`, `_id` = org id
(one record per org, so the primary key is the only index its queries need)."""

from __future__ import annotations

from services.auth.enduser.model import ChatbotAuth
from services.config.mongo_client import MongoDatabase


class MongoChatbotAuthStore(MongoDatabase):
    """Opens the process's shared database when given one, else its own client at connect."""

    async def get(self, org_id: str) -> ChatbotAuth | None:
        doc = await self.db.chatbot_auth.find_one({"_id": org_id})
        return ChatbotAuth.model_validate(doc) if doc else None

    async def put(self, record: ChatbotAuth) -> None:
        doc = record.model_dump(mode="json")
        await self.db.chatbot_auth.replace_one({"_id": record.org_id}, {"_id": record.org_id, **doc}, upsert=True)

    async def delete(self, org_id: str) -> bool:
        result = await self.db.chatbot_auth.delete_one({"_id": org_id})
        return bool(result.deleted_count)
