"""Retrieval-augmented generation: collections, ingestion, chunk store, search, answers.

| module | role |
|---|---|
| model.py | records: Collection, Document, Chunk, search hits |
| store.py / memory_store.py / mongo_store.py | collections + documents repository |
| chunks/ | the chunk store port: embedded (numpy + BM25) and PostgreSQL + pgvector |
| parsing.py, chunking.py | document text -> sections -> token-aware chunks |
| embeddings/ | embedding service: batching, retries, cache by content hash |
| ingest/ | the ingestion pipeline, its Celery app and the in-process dispatcher |
| fetch.py | URL documents through the address guard |
| search.py, rerank.py | vector, keyword and hybrid (reciprocal rank fusion) search; the rerank call |
| schemas.py | HTTP request and response models |
| service.py | RagService: what the HTTP routes call |
| executor.py | the `rag` job kind: retrieve, then answer with numbered citations |
| runtime.py | builds the service from settings and clients |
"""
