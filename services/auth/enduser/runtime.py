"""Builds end-user authentication from settings (used by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from services.auth.enduser.service import ChatbotAuthService
from services.auth.enduser.store import ChatbotAuthStore
from services.auth.enduser.tokens import TokenVerifier
from services.common.crypto import KeyRing


@dataclass
class EndUserAuth:
    store: ChatbotAuthStore
    service: ChatbotAuthService
    tokens: TokenVerifier

    async def close(self) -> None:
        await self.store.close()


async def start_enduser_auth(settings: Settings, *, database: Any = None) -> EndUserAuth:
    store: ChatbotAuthStore
    if settings.mongo.url:
        from services.auth.enduser.mongo_store import MongoChatbotAuthStore

        store = (MongoChatbotAuthStore(database=database) if database is not None
                 else MongoChatbotAuthStore(settings.mongo))
    else:
        from services.auth.enduser.memory_store import MemoryChatbotAuthStore

        store = MemoryChatbotAuthStore(Path(settings.app.data_dir) / "chatbot_auth.json")
    await store.connect()
    keyring = KeyRing.from_settings(settings.security)
    tokens = TokenVerifier(store, keyring, settings.chatbot)
    return EndUserAuth(store, ChatbotAuthService(store, keyring, on_change=tokens.forget), tokens)
