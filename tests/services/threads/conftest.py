"""Thread store adapters for the contract suite: memory (with its JSON file), Mongo through
async-wrapped mongomock, and PyMongo over TCP to the wire front and to a real MongoDB
(tests/mongo_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.threads.memory_store import MemoryThreadStore
from services.threads.mongo_store import MongoThreadStore
from services.threads.store import ThreadStore
from tests.mongo_support import SERVER_LEGS, server_settings
from tests.services.config.mongomock_async import async_mongomock_database


@dataclass
class Adapter:
    name: str
    store: ThreadStore
    # A second store over the same data (a restart, or another process).
    reopen: Callable[[], Awaitable[ThreadStore]]


@pytest.fixture(params=["memory", "mongomock", *SERVER_LEGS])
async def adapter(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> AsyncIterator[Adapter]:
    if request.param == "memory":
        path = tmp_path / "threads.json"
        store = MemoryThreadStore(path)
        await store.connect()

        async def reopen_memory() -> ThreadStore:
            await store.close()  # a restart: the process closed its store (saves are coalesced)
            again = MemoryThreadStore(path)
            await again.connect()
            return again

        yield Adapter("memory", store, reopen_memory)
        return
    if request.param == "mongomock":
        db = async_mongomock_database()
        mock = MongoThreadStore(database=db)
        await mock.connect()

        async def reopen_mock() -> ThreadStore:
            again = MongoThreadStore(database=db)
            await again.connect()
            return again

        yield Adapter("mongomock", mock, reopen_mock)
        return
    settings = server_settings(request, request.param, unique)
    real = MongoThreadStore(settings)
    await real.connect()
    opened: list[MongoThreadStore] = []

    async def reopen_real() -> ThreadStore:
        again = MongoThreadStore(settings)
        await again.connect()
        opened.append(again)
        return again

    try:
        yield Adapter(request.param, real, reopen_real)
    finally:
        await real.db.client.drop_database(settings.database)
        for store_ in opened:
            await store_.close()
        await real.close()
