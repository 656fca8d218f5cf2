"""An async face over mongomock, shaped like the part of PyMongo's AsyncMongoClient API the
Mongo adapters use, so they run unchanged in tests without a MongoDB server.

Each call runs mongomock synchronously inside a coroutine: mongomock is in-memory, so there
is nothing to wait on and no thread is needed.
"""

from __future__ import annotations

from typing import Any

import mongomock


class AsyncCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def sort(self, key: Any, direction: int | None = None) -> AsyncCursor:
        self._cursor = self._cursor.sort(key, direction) if direction else self._cursor.sort(key)
        return self

    def limit(self, n: int) -> AsyncCursor:
        self._cursor = self._cursor.limit(n)
        return self

    def skip(self, n: int) -> AsyncCursor:
        self._cursor = self._cursor.skip(n)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        docs = list(self._cursor)
        return docs if length is None else docs[:length]

    def __aiter__(self) -> AsyncCursor:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return dict(next(self._cursor))
        except StopIteration:
            raise StopAsyncIteration from None


class AsyncCollection:
    def __init__(self, collection: Any) -> None:
        self.sync = collection

    def find(self, *args: Any, **kwargs: Any) -> AsyncCursor:
        return AsyncCursor(self.sync.find(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


class AsyncDatabase:
    def __init__(self, database: Any) -> None:
        self.sync = database

    def __getitem__(self, name: str) -> AsyncCollection:
        return AsyncCollection(self.sync[name])

    def __getattr__(self, name: str) -> AsyncCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return AsyncCollection(self.sync[name])

    async def command(self, name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if name == "ping":
            return {"ok": 1.0}
        result: dict[str, Any] = self.sync.command(name, *args, **kwargs)
        return result


def async_mongomock_database(name: str = "test") -> AsyncDatabase:
    """A fresh in-memory database (each mongomock client holds its own data)."""
    return AsyncDatabase(mongomock.MongoClient()[name])
