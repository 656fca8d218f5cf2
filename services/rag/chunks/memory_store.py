"""The embedded chunk store: a numpy matrix per collection (exact cosine search) and a BM25
index, saved under `<data_dir>/rag/chunks/` as `<collection>.npy` + `<collection>.json`.

Exact search is a matrix-vector product: at 100,000 chunks x 256 dims that is 25.6 M
multiply-adds, a few milliseconds (bench/rag_search.py), so no approximate index is worth
its build time at the sizes one process holds. Writes save the touched collection (the
whole file: fine for `make run`-sized data; `autosave=False` plus `save()` for bulk loads).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from services.rag.chunks.bm25 import Bm25Index
from services.rag.chunks.filters import matches, normalize
from services.rag.chunks.store import Filters
from services.rag.model import Chunk, Collection, Hit


@dataclass
class _Shelf:
    dim: int
    ids: list[str] = field(default_factory=list)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    bm25: Bm25Index = field(default_factory=Bm25Index)
    by_document: dict[str, set[str]] = field(default_factory=dict)
    # Rows added since the matrix was last rebuilt: stacking once per search or save instead
    # of once per document keeps loading 100,000 rows linear, not quadratic.
    pending: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.matrix.shape[1] != self.dim:
            self.matrix = np.zeros((0, self.dim), dtype=np.float32)

    def rows(self) -> np.ndarray:
        if self.pending:
            self.matrix = np.vstack([self.matrix, *self.pending])
            self.pending = []
        return self.matrix

    def drop(self, document_id: str) -> int:
        # A new document (the common case when loading) costs nothing: no scan of all rows.
        gone = self.by_document.pop(document_id, set())
        if gone:
            keep = [i for i, cid in enumerate(self.ids) if cid not in gone]
            for cid in gone:
                self.bm25.remove(cid, self.chunks.pop(cid).text)
            self.ids = [self.ids[i] for i in keep]
            self.matrix = self.rows()[keep]
        return len(gone)

    def add(self, chunks: list[Chunk], vectors: list[list[float]]) -> None:
        if not chunks:
            return
        block = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), self.dim)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        self.pending.append(block / np.where(norms == 0, 1, norms))
        for chunk in chunks:
            self.by_document.setdefault(chunk.document_id, set()).add(chunk.id)
            self.ids.append(chunk.id)
            self.chunks[chunk.id] = chunk
            self.bm25.add(chunk.id, chunk.text)


class MemoryChunkStore:
    def __init__(self, data_dir: Path | str | None = None, *, autosave: bool = True) -> None:
        self._dir = Path(data_dir) / "rag" / "chunks" if data_dir is not None else None
        self._autosave = autosave
        self._shelves: dict[str, _Shelf] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._dir is None or self._shelves:
            return
        for meta in sorted(self._dir.glob("*.json")):
            data = orjson.loads(meta.read_bytes())
            shelf = _Shelf(dim=data["dim"])
            chunks = [Chunk.model_validate(c) for c in data["chunks"]]
            shelf.add(chunks, np.load(meta.with_suffix(".npy")).tolist() if chunks else [])
            self._shelves[meta.stem] = shelf

    async def close(self) -> None:
        self.save()

    def save(self, collection_id: str | None = None) -> None:
        """Write one collection (or all) to disk; atomic per file (write, then rename)."""
        if self._dir is None:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        for cid, shelf in self._shelves.items():
            if collection_id not in (None, cid):
                continue
            tmp = self._dir / f"{cid}.tmp.npy"
            np.save(tmp, shelf.rows())
            tmp.replace(self._dir / f"{cid}.npy")
            body = {"dim": shelf.dim, "chunks": [shelf.chunks[i].model_dump(mode="json") for i in shelf.ids]}
            (self._dir / f"{cid}.tmp.json").write_bytes(orjson.dumps(body))
            (self._dir / f"{cid}.tmp.json").replace(self._dir / f"{cid}.json")

    def _shelf(self, collection: Collection) -> _Shelf:
        shelf = self._shelves.get(collection.id)
        if shelf is None:
            shelf = self._shelves[collection.id] = _Shelf(dim=collection.embedding.dimension)
        return shelf

    def _owned(self, collection: Collection) -> _Shelf | None:
        shelf = self._shelves.get(collection.id)
        if shelf is None or (shelf.ids and shelf.chunks[shelf.ids[0]].org_id != collection.org_id):
            return None
        return shelf

    async def replace_document(
        self, collection: Collection, document_id: str, chunks: list[Chunk], vectors: list[list[float]],
    ) -> None:
        async with self._lock:
            shelf = self._shelf(collection)
            shelf.drop(document_id)
            shelf.add(chunks, vectors)
            if self._autosave:
                self.save(collection.id)

    async def delete_document(self, collection: Collection, document_id: str) -> int:
        async with self._lock:
            shelf = self._owned(collection)
            gone = shelf.drop(document_id) if shelf else 0
            if gone and self._autosave:
                self.save(collection.id)
            return gone

    async def delete_collection(self, collection: Collection) -> int:
        async with self._lock:
            shelf = self._owned(collection)
            if shelf is None:
                return 0
            del self._shelves[collection.id]
            if self._dir is not None:
                for suffix in (".npy", ".json"):
                    (self._dir / f"{collection.id}{suffix}").unlink(missing_ok=True)
            return len(shelf.ids)

    async def count(self, collection: Collection, document_id: str | None = None) -> int:
        shelf = self._owned(collection)
        if shelf is None:
            return 0
        if document_id is None:
            return len(shelf.ids)
        return len(shelf.by_document.get(document_id, ()))

    async def vector_search(
        self, collection: Collection, vector: list[float], k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        shelf = self._owned(collection)
        if shelf is None or not shelf.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        scores = shelf.rows() @ (query / (np.linalg.norm(query) or 1.0))
        wanted = normalize(filters)
        if wanted:
            mask = np.array([matches(shelf.chunks[i].metadata, shelf.chunks[i].document_id, wanted)
                             for i in shelf.ids])
            scores = np.where(mask, scores, -np.inf)
        k = min(k, len(shelf.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [Hit(chunk=shelf.chunks[shelf.ids[i]], score=float(scores[i]))
                for i in top if np.isfinite(scores[i])]

    async def keyword_search(
        self, collection: Collection, query: str, k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        shelf = self._owned(collection)
        if shelf is None:
            return []
        wanted = normalize(filters)
        hits: list[Hit] = []
        for cid, score in shelf.bm25.ranked(query):
            chunk = shelf.chunks[cid]
            if not wanted or matches(chunk.metadata, chunk.document_id, wanted):
                hits.append(Hit(chunk=chunk, score=score))
                if len(hits) == k:
                    break
        return hits
