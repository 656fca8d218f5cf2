from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.chunks.pgvector_store import PgvectorChunkStore
from services.rag.chunks.store import ChunkStore
from tests.services.rag.pgvector_server import pgvector_url  # noqa: F401


@pytest.fixture(params=["memory", "pgvector"])
async def chunk_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChunkStore]:
    store: ChunkStore
    if request.param == "memory":
        store = MemoryChunkStore(tmp_path)
    else:
        store = PgvectorChunkStore(request.getfixturevalue("pgvector_url"), pool_max=4)
    await store.connect()
    try:
        yield store
    finally:
        await store.close()
