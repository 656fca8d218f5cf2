"""Config store adapters for the contract suite: memory (with its JSON file), Mongo through
async-wrapped mongomock, and a real MongoDB when MONGODB_CONNECTION_URI is set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from config import MongoSettings
from services.config.memory import MemoryConfigStore
from services.config.mongo import MongoConfigStore
from services.config.store import ConfigStore
from tests.services.config.mongomock_async import async_mongomock_database


@dataclass
class Adapter:
    name: str
    store: ConfigStore
    # Every stored document of a collection exactly as the backend holds it.
    raw: Callable[[str], Awaitable[list[dict[str, Any]]]]
    # A second store over the same data (a restart or another process).
    reopen: Callable[[], Awaitable[ConfigStore]]


@pytest.fixture(params=["memory", "mongomock", "mongodb"])
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> AsyncIterator[Adapter]:
    if request.param == "memory":
        path = tmp_path / "config.json"
        store = MemoryConfigStore(path)
        await store.connect()

        async def raw_memory(collection: str) -> list[dict[str, Any]]:
            if not path.exists():
                return []
            data: dict[str, list[dict[str, Any]]] = orjson.loads(path.read_bytes())
            return data.get(collection, [])

        async def reopen_memory() -> ConfigStore:
            again = MemoryConfigStore(path)
            await again.connect()
            return again

        yield Adapter("memory", store, raw_memory, reopen_memory)
        return
    if request.param == "mongomock":
        db = async_mongomock_database()
        mock_store = MongoConfigStore(database=db)
        await mock_store.connect()

        async def raw_mock(collection: str) -> list[dict[str, Any]]:
            docs: list[dict[str, Any]] = await db[collection].find({}).to_list(None)
            return docs

        async def reopen_mock() -> ConfigStore:
            again = MongoConfigStore(database=db)
            await again.connect()
            return again

        yield Adapter("mongomock", mock_store, raw_mock, reopen_mock)
        return
    url = os.environ.get("MONGODB_CONNECTION_URI")
    if not url:
        # No MongoDB server can be installed on these machines: skipped even under CI.
        pytest.skip("MONGODB_CONNECTION_URI not set")
    settings = MongoSettings(url=url, database=f"aim_test_{unique}")
    real = MongoConfigStore(settings)
    await real.connect()
    reopened: list[MongoConfigStore] = []

    async def raw_real(collection: str) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await real.db[collection].find({}).to_list(None)
        return docs

    async def reopen_real() -> ConfigStore:
        again = MongoConfigStore(settings)
        await again.connect()
        reopened.append(again)
        return again

    try:
        yield Adapter("mongodb", real, raw_real, reopen_real)
    finally:
        await real.db.client.drop_database(settings.database)
        for store_ in reopened:
            await store_.close()
        await real.close()
