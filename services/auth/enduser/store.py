"""The chatbot auth repository port: one record per org.

Adapters: `memory_store.MemoryChatbotAuthStore` (a dict, saved under .data/) and
`mongo_store.MongoChatbotAuthStore`; tests/services/auth/test_enduser_store_contract.py
runs one suite against both. The store only ever sees the sealed secret.
"""

from __future__ import annotations

from typing import Protocol

from services.auth.enduser.model import ChatbotAuth


class ChatbotAuthStore(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, org_id: str) -> ChatbotAuth | None: ...

    async def put(self, record: ChatbotAuth) -> None:
        """Insert or replace the org's record."""

    async def delete(self, org_id: str) -> bool: ...
