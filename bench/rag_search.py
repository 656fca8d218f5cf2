"""RAG throughput and latency: ingestion chunks/s with the offline embedder, and search
p50/p99 at 100,000 chunks on the embedded store and on PostgreSQL + pgvector (pgserver).

Ingestion runs the real pipeline (parse, chunk, embed with wordllama, index) over CPython's
`pydoc_data.topics` copied until ~2,000 chunks. The 100,000-chunk corpus is made of
sentences drawn from those topics (so words and vectors look like real documentation),
embedded with the same model, loaded in documents of 100 chunks; then 200 questions are
searched in each mode through `Searcher` (query embedding included).

    PYTHONPATH=. .venv/bin/python bench/rag_search.py [--chunks 100000] [--queries 200] [--stores embedded,pgvector]
"""

from __future__ import annotations

import argparse
import asyncio
import pydoc_data.topics
import random
import re
import statistics
import tempfile
import time

from config import Settings
from services.providers.embeddings.local import embed_sync, token_lengths
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.chunks.store import ChunkStore
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import Chunk, Collection, Document, SourceKind
from services.rag.runtime import build_embeddings
from services.rag.search import Searcher, SearchMode, SearchQuery


async def ingest_rate(copies: int) -> tuple[int, float]:
    embeddings = build_embeddings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        repo, chunks = MemoryRagRepository(), MemoryChunkStore(tmp, autosave=False)
        pipeline = IngestPipeline(repo, chunks, embeddings, token_lengths())
        col = await repo.create_collection(Collection(org_id="bench", name="pydoc"))
        docs = []
        for copy in range(copies):
            for topic, text in pydoc_data.topics.topics.items():
                doc = Document(org_id="bench", collection_id=col.id, key=f"{topic}{copy}", kind=SourceKind.TEXT,
                               content_hash=f"{topic}{copy}")
                await repo.save_document(doc)
                # A distinct first line per copy, so the embedding cache cannot serve copies.
                await repo.put_source(doc.id, f"copy {copy}\n{text}".encode())
                docs.append(doc.id)
        started = time.perf_counter()
        for doc_id in docs:
            await pipeline.run("bench", doc_id)
        elapsed = time.perf_counter() - started
        return await chunks.count(col), elapsed


def sentences() -> list[str]:
    out = []
    for text in pydoc_data.topics.topics.values():
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if 40 < len(s) < 400]
    return out


async def load(store: ChunkStore, col: Collection, n: int) -> float:
    pool = sentences()
    rng = random.Random(7)
    started = time.perf_counter()
    for d in range(n // 100):
        texts = [" ".join(rng.sample(pool, 2)) for _ in range(100)]
        vectors = await asyncio.to_thread(embed_sync, texts)
        chunks = [Chunk(id=f"d{d}:{i}", org_id=col.org_id, collection_id=col.id, document_id=f"d{d}", ordinal=i,
                        text=t, start=0, end=len(t), metadata={"shard": d % 10}) for i, t in enumerate(texts)]
        await store.replace_document(col, f"d{d}", chunks, vectors)
    return time.perf_counter() - started


async def bulk_load(store: object, col: Collection, n: int) -> float:
    """pgvector: load without the HNSW index, then build it once. Inserting into the index
    row by row costs ~5 ms a row on this machine (100,000 rows: ~8 min); a bulk build is
    what an operator would do for a first load of this size."""
    from services.rag.chunks.pgvector_store import PgvectorChunkStore

    assert isinstance(store, PgvectorChunkStore)
    table = await store._table(col.embedding.dimension)
    async with store.pool.connection() as conn:
        await conn.execute(f"DROP INDEX {table}_hnsw")  # type: ignore[arg-type]
    started = time.perf_counter()
    await load(store, col, n)
    async with store.pool.connection() as conn:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute(f"CREATE INDEX {table}_hnsw ON {table} "  # type: ignore[arg-type]
                           "USING hnsw (embedding vector_cosine_ops)")
        await conn.execute(f"ANALYZE {table}")  # type: ignore[arg-type]
    return time.perf_counter() - started


async def latencies(store: ChunkStore, col: Collection, queries: int) -> dict[str, tuple[float, float]]:
    searcher = Searcher(store, build_embeddings(Settings()))
    rng = random.Random(11)
    pool = sentences()
    questions = [" ".join(rng.choice(pool).split()[:8]) for _ in range(queries)]
    out = {}
    for mode in SearchMode:
        times = []
        for q in questions:
            started = time.perf_counter()
            await searcher.search(col, SearchQuery(query=q, k=10, mode=mode))
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        out[mode.value] = (statistics.median(times), times[int(len(times) * 0.99) - 1])
    return out


async def main(n: int, queries: int, only: set[str]) -> None:
    count, elapsed = await ingest_rate(copies=4)
    print(f"ingestion (pipeline, offline embedder, embedded store): {count} chunks in {elapsed:.2f} s "
          f"= {count / elapsed:.0f} chunks/s")
    col = Collection(org_id="bench", name="big")
    with tempfile.TemporaryDirectory() as tmp:
        import pgserver

        from services.rag.chunks.pgvector_store import PgvectorChunkStore

        server = pgserver.get_server(tmp, cleanup_mode="stop")
        stores: list[tuple[str, ChunkStore]] = [
            ("embedded", MemoryChunkStore(tmp, autosave=False)),
            ("pgvector", PgvectorChunkStore(server.get_uri(), pool_max=2)),
        ]
        print(f"\n{n} chunks, {queries} queries, k=10\n| store | mode | p50 ms | p99 ms |\n|---|---|---|---|")
        for name, store in stores:
            if name not in only:
                continue
            await store.connect()
            if isinstance(store, PgvectorChunkStore):
                took = await bulk_load(store, col, n)
            else:
                took = await load(store, col, n)
            for mode, (p50, p99) in (await latencies(store, col, queries)).items():
                print(f"| {name} | {mode} | {p50:.1f} | {p99:.1f} |")
            print(f"| {name} | (load {n} chunks incl. embedding and index build) | {took:.0f} s | |")
            await store.close()
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="embedded,pgvector")
    args = parser.parse_args()
    asyncio.run(main(args.chunks, args.queries, set(args.stores.split(","))))
