"""Chatbot auth store adapters: memory (with its JSON file), Mongo through async-wrapped
mongomock, and PyMongo over TCP to the wire front and to a real MongoDB
(tests/mongo_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.auth.enduser.memory_store import MemoryChatbotAuthStore
from services.auth.enduser.mongo_store import MongoChatbotAuthStore
from services.auth.enduser.store import ChatbotAuthStore
from tests.mongo_support import SERVER_LEGS, server_settings
from tests.services.config.mongomock_async import async_mongomock_database


@dataclass
class Adapter:
    name: str
    store: ChatbotAuthStore
    # Every stored record exactly as the backend holds it (to look for clear secrets).
    raw: Callable[[], Awaitable[Any]]
    reopen: Callable[[], Awaitable[ChatbotAuthStore]]


@pytest.fixture(params=["memory", "mongomock", *SERVER_LEGS])
async def auth_adapter(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[Adapter]:
    if request.param == "memory":
        path = tmp_path / "chatbot_auth.json"
        store = MemoryChatbotAuthStore(path)
        await store.connect()

        async def raw_memory() -> Any:
            return orjson.loads(path.read_bytes()) if path.exists() else []

        async def reopen_memory() -> ChatbotAuthStore:
            again = MemoryChatbotAuthStore(path)
            await again.connect()
            return again

        yield Adapter("memory", store, raw_memory, reopen_memory)
        return
    if request.param == "mongomock":
        db = async_mongomock_database()
        mock = MongoChatbotAuthStore(database=db)
        await mock.connect()

        async def raw_mock() -> Any:
            return await db.chatbot_auth.find({}).to_list(None)

        async def reopen_mock() -> ChatbotAuthStore:
            return MongoChatbotAuthStore(database=db)

        yield Adapter("mongomock", mock, raw_mock, reopen_mock)
        return
    settings = server_settings(request, request.param, unique)
    real = MongoChatbotAuthStore(settings)
    await real.connect()
    opened: list[MongoChatbotAuthStore] = []

    async def raw_real() -> Any:
        return await real.db.chatbot_auth.find({}).to_list(None)

    async def reopen_real() -> ChatbotAuthStore:
        again = MongoChatbotAuthStore(settings)
        await again.connect()
        opened.append(again)
        return again

    try:
        yield Adapter(request.param, real, raw_real, reopen_real)
    finally:
        await real.db.client.drop_database(settings.database)
        for store_ in opened:
            await store_.close()
        await real.close()
