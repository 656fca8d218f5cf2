"""Retrieval quality on CPython's own docs: `pydoc_data.topics` (79 topics, one document
each, shipped with Python) and 36 hand-written questions whose gold topic is known.

Each topic is ingested through the real pipeline (chunking, offline wordllama embeddings,
embedded store); each question is searched in keyword, vector and hybrid mode; hits are
collapsed to documents (best rank wins) and scored by recall@5 and MRR@10.

    PYTHONPATH=. .venv/bin/python bench/rag_quality.py [--rrf-k 60] [--store embedded|pgvector]
"""

from __future__ import annotations

import argparse
import asyncio
import pydoc_data.topics
import tempfile

from config import Settings
from services.providers.embeddings.local import token_lengths
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.chunks.store import ChunkStore
from services.rag.embeddings.service import EmbeddingService
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import Collection, Document, SourceKind
from services.rag.runtime import build_embeddings
from services.rag.search import Searcher, SearchMode, SearchQuery

QUESTIONS: list[tuple[str, str]] = [
    ("How do I check a condition and raise AssertionError if it fails?", "assert"),
    ("How do I define a coroutine function with async def?", "async"),
    ("What does the await expression do?", "await"),
    ("How do I exit a loop early?", "break"),
    ("How do I skip to the next iteration of a loop?", "continue"),
    ("How do I define a class with base classes?", "class"),
    ("How are objects compared with == and < and is?", "comparisons"),
    ("How do I remove a name binding or delete a list item?", "del"),
    ("How is a dictionary display with key: value pairs written?", "dict"),
    ("How do I catch exceptions with except and finally?", "try"),
    ("How do I iterate over a sequence with a for statement?", "for"),
    ("How do f-strings and the format specification mini-language work?", "formatstrings"),
    ("How do I define a function with default parameter values?", "function"),
    ("How do I assign to a module-level variable inside a function?", "global"),
    ("How do I modify a variable from an enclosing function scope?", "nonlocal"),
    ("How do I write a conditional with elif and else?", "if"),
    ("How does the import statement find and load modules?", "import"),
    ("How do I write an anonymous function expression?", "lambda"),
    ("How do I write a list display or list comprehension?", "lists"),
    ("How do I raise an exception with a cause using from?", "raise"),
    ("How do I return a value from a function?", "return"),
    ("How do I use a context manager with the with statement?", "with"),
    ("How does yield make a generator function?", "yield"),
    ("How do I loop while a condition is true?", "while"),
    ("What methods does str have, like split, join and strip?", "string-methods"),
    ("How do slices with start, stop and step work?", "slicings"),
    ("Which values are considered false in a boolean context?", "truth"),
    ("What are the operator precedence rules from lowest to highest?", "operator-summary"),
    ("How does the ** power operator work with negative numbers?", "power"),
    ("What are the << and >> shifting operations?", "shifting"),
    ("How do I write augmented assignment like x += 1?", "augassign"),
    ("What does the pass statement do?", "pass"),
    ("How are integer literals written in hex, octal and binary?", "integers"),
    ("How do I use the pdb debugger to step through code?", "debugger"),
    ("How are names bound and resolved in scopes and blocks?", "naming"),
    ("What do __enter__ and __exit__ methods do?", "context-managers"),
]


async def build(
    embeddings: EmbeddingService, data_dir: str, chunks: ChunkStore | None = None,
) -> tuple[Searcher, Collection, dict[str, str]]:
    repo = MemoryRagRepository()
    chunks = chunks or MemoryChunkStore(data_dir, autosave=False)
    pipeline = IngestPipeline(repo, chunks, embeddings, token_lengths())
    collection = await repo.create_collection(Collection(org_id="bench", name="pydoc"))
    ids = {}
    for topic, text in sorted(pydoc_data.topics.topics.items()):
        doc = Document(org_id="bench", collection_id=collection.id, key=topic, kind=SourceKind.TEXT,
                       content_hash=topic, title=topic)
        await repo.save_document(doc)
        await repo.put_source(doc.id, text.encode())
        await pipeline.run("bench", doc.id)
        ids[doc.id] = topic
    return Searcher(chunks, embeddings), collection, ids


async def evaluate(
    searcher: Searcher, collection: Collection, ids: dict[str, str], mode: SearchMode,
) -> tuple[float, float]:
    recall, mrr = 0.0, 0.0
    for question, gold in QUESTIONS:
        hits = await searcher.search(collection, SearchQuery(query=question, k=50, mode=mode))
        ranked: list[str] = []
        for hit in hits:
            topic = ids[hit.chunk.document_id]
            if topic not in ranked:
                ranked.append(topic)
        if gold in ranked[:5]:
            recall += 1
        if gold in ranked[:10]:
            mrr += 1 / (ranked.index(gold) + 1)
    return recall / len(QUESTIONS), mrr / len(QUESTIONS)


async def main(rrf_k: float, store: str) -> None:
    embeddings = build_embeddings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        chunks: ChunkStore = MemoryChunkStore(tmp, autosave=False)
        if store == "pgvector":
            import pgserver

            from services.rag.chunks.pgvector_store import PgvectorChunkStore

            server = pgserver.get_server(tmp, cleanup_mode="stop")
            chunks = PgvectorChunkStore(server.get_uri(), pool_max=2)
        await chunks.connect()
        _, collection, ids = await build(embeddings, tmp, chunks)
        searcher = Searcher(chunks, embeddings, rrf_k=rrf_k)
        print(f"{len(ids)} documents, {len(QUESTIONS)} questions, rrf_k={rrf_k}, store={store}")
        print("| mode | recall@5 | MRR@10 |\n|---|---|---|")
        for mode in (SearchMode.KEYWORD, SearchMode.VECTOR, SearchMode.HYBRID):
            recall, mrr = await evaluate(searcher, collection, ids, mode)
            print(f"| {mode.value} | {recall:.3f} | {mrr:.3f} |")
        await chunks.close()
        if store == "pgvector":
            server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rrf-k", type=float, default=60.0)
    parser.add_argument("--store", choices=["embedded", "pgvector"], default="embedded")
    args = parser.parse_args()
    asyncio.run(main(args.rrf_k, args.store))
