"""One contract for every chunk store: the embedded one and PostgreSQL + pgvector."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import Invalid
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.chunks.store import ChunkStore
from services.rag.model import Chunk, Collection, EmbeddingSpec

DIM = 8


def _collection(org: str = "org_a", cid: str | None = None) -> Collection:
    col = Collection(org_id=org, name="c", embedding=EmbeddingSpec(provider="t", model="t", dimension=DIM))
    return col.model_copy(update={"id": cid}) if cid else col


def _axis(i: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(DIM)]


def _chunks(col: Collection, doc: str, texts: list[str], **meta: object) -> list[Chunk]:
    return [Chunk(id=f"{col.id}:{doc}:{n}", org_id=col.org_id, collection_id=col.id, document_id=doc,
                  ordinal=n, text=t, start=0, end=len(t), metadata=dict(meta)) for n, t in enumerate(texts)]


async def _load(store: ChunkStore, col: Collection) -> None:
    await store.replace_document(col, "d1", _chunks(col, "d1", ["apples grow on trees", "bananas are yellow"],
                                                    lang="en", team="a"), [_axis(0), _axis(1)])
    await store.replace_document(col, "d2", _chunks(col, "d2", ["cherries are red fruit"], lang="fr", team="b"),
                                 [_axis(2)])


async def test_vector_search_ranks_by_cosine(chunk_store: ChunkStore) -> None:
    col = _collection()
    await _load(chunk_store, col)
    near_one = [0.1, 0.9, 0.0, 0, 0, 0, 0, 0]
    hits = await chunk_store.vector_search(col, near_one, 2)
    assert [h.chunk.text for h in hits] == ["bananas are yellow", "apples grow on trees"]
    assert hits[0].score > hits[1].score
    assert hits[0].chunk.document_id == "d1" and hits[0].chunk.ordinal == 1


async def test_keyword_search_finds_words_and_stems(chunk_store: ChunkStore) -> None:
    col = _collection()
    await _load(chunk_store, col)
    hits = await chunk_store.keyword_search(col, "which tree has apples?", 5)
    assert [h.chunk.text for h in hits] == ["apples grow on trees"]
    assert await chunk_store.keyword_search(col, "zeppelin", 5) == []
    assert await chunk_store.keyword_search(col, "?!", 5) == []


async def test_filters_equality_in_and_document(chunk_store: ChunkStore) -> None:
    col = _collection()
    await _load(chunk_store, col)
    q = _axis(0)
    assert {h.chunk.document_id for h in await chunk_store.vector_search(col, q, 5, {"lang": "fr"})} == {"d2"}
    got = await chunk_store.vector_search(col, q, 5, {"team": {"in": ["a", "b"]}})
    assert len(got) == 3
    got = await chunk_store.keyword_search(col, "red yellow", 5, {"document_id": "d2"})
    assert [h.chunk.text for h in got] == ["cherries are red fruit"]
    with pytest.raises(Invalid) as bad:
        await chunk_store.vector_search(col, q, 5, {"team": {"nin": ["a"]}})
    assert bad.value.field == "filters.team"


async def test_replace_delete_and_count(chunk_store: ChunkStore) -> None:
    col = _collection()
    await _load(chunk_store, col)
    assert await chunk_store.count(col) == 3
    assert await chunk_store.count(col, "d1") == 2
    await chunk_store.replace_document(col, "d1", _chunks(col, "d1", ["dates are sweet"]), [_axis(3)])
    assert await chunk_store.count(col, "d1") == 1
    assert await chunk_store.keyword_search(col, "apples", 5) == []
    assert await chunk_store.delete_document(col, "d1") == 1
    assert await chunk_store.count(col) == 1
    assert await chunk_store.delete_collection(col) == 1
    assert await chunk_store.count(col) == 0


async def test_another_org_sees_nothing(chunk_store: ChunkStore) -> None:
    mine = _collection("org_a")
    await _load(chunk_store, mine)
    theirs = _collection("org_b", cid=mine.id)  # even a guessed collection id
    assert await chunk_store.vector_search(theirs, _axis(0), 5) == []
    assert await chunk_store.keyword_search(theirs, "apples", 5) == []
    assert await chunk_store.count(theirs) == 0
    assert await chunk_store.delete_document(theirs, "d1") == 0
    assert await chunk_store.delete_collection(theirs) == 0
    assert await chunk_store.count(mine) == 3


async def test_memory_store_survives_a_restart(tmp_path: Path) -> None:
    store = MemoryChunkStore(tmp_path)
    col = _collection()
    await _load(store, col)
    again = MemoryChunkStore(tmp_path)
    await again.connect()
    assert await again.count(col) == 3
    assert [h.chunk.text for h in await again.keyword_search(col, "cherries", 1)] == ["cherries are red fruit"]
