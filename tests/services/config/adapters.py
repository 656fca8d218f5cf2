"""Opens one domain's store on each config backend for its contract suite: memory (with its
JSON file), Mongo through async-wrapped mongomock, then PyMongo's real client over TCP to
the wire front (`wire`) and to a real MongoDB (`mongodb`, when MONGODB_CONNECTION_URI is set;
tests/mongo_support.py).

A domain's suite declares its fixture with `ADAPTERS` and `open_adapter`, passing the
function that builds its store over a backend (`services/<domain>/runtime.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import orjson
import pytest

from services.config.factory import ConfigBackend
from services.config.json_file import JsonFile
from services.config.mongo_client import MongoDatabase
from tests.mongo_support import SERVER_LEGS, server_settings
from tests.services.config.mongomock_async import async_mongomock_database

ADAPTERS = ["memory", "mongomock", *SERVER_LEGS]


class Connectable(Protocol):
    async def connect(self) -> None: ...


S = TypeVar("S", bound=Connectable)


@dataclass
class Adapter(Generic[S]):
    name: str
    store: S
    # Every stored document of a collection exactly as the backend holds it.
    raw: Callable[[str], Awaitable[list[dict[str, Any]]]]
    # A second store over the same data (a restart or another process).
    reopen: Callable[[], Awaitable[S]]


async def _open(make: Callable[[ConfigBackend], S], backend: ConfigBackend) -> S:
    await backend.connect()
    store = make(backend)
    await store.connect()
    return store


@asynccontextmanager
async def open_adapter(
    request: pytest.FixtureRequest, make: Callable[[ConfigBackend], S], tmp_path: Path, unique: str
) -> AsyncIterator[Adapter[S]]:
    kind: str = request.param
    if kind == "memory":
        path = tmp_path / "config.json"

        async def raw_memory(collection: str) -> list[dict[str, Any]]:
            if not path.exists():
                return []
            data: dict[str, list[dict[str, Any]]] = orjson.loads(path.read_bytes())
            return data.get(collection, [])

        async def reopen_memory() -> S:
            return await _open(make, ConfigBackend(file=JsonFile(path)))

        yield Adapter("memory", await reopen_memory(), raw_memory, reopen_memory)
        return
    if kind == "mongomock":
        db = async_mongomock_database()

        async def raw_mock(collection: str) -> list[dict[str, Any]]:
            docs: list[dict[str, Any]] = await db[collection].find({}).to_list(None)
            return docs

        async def reopen_mock() -> S:
            return await _open(make, ConfigBackend(mongo=MongoDatabase(database=db)))

        yield Adapter("mongomock", await reopen_mock(), raw_mock, reopen_mock)
        return
    settings = server_settings(request, kind, unique)
    opened: list[MongoDatabase] = []

    async def reopen_real() -> S:
        mongo = MongoDatabase(settings)
        opened.append(mongo)
        return await _open(make, ConfigBackend(mongo=mongo))

    try:
        store = await reopen_real()
        first = opened[0]

        async def raw_real(collection: str) -> list[dict[str, Any]]:
            docs: list[dict[str, Any]] = await first.db[collection].find({}).to_list(None)
            return docs

        yield Adapter(kind, store, raw_real, reopen_real)
    finally:
        if opened and opened[0]._db is not None:
            await opened[0].db.client.drop_database(settings.database)
        for mongo in opened:
            await mongo.close()
