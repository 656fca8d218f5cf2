"""Builds the RAG domain from settings and the clients the composition root already has.

Backends follow the settings: MongoDB repository when MONGODB_CONNECTION_URI is set (else
dicts under `.data/`); pgvector chunks when RAG_DATABASE_URL is set (it may be the metrics
database's URL when that server has the `vector` extension; else numpy + BM25 under
`.data/`); Celery ingestion when a broker URL is set (else in process); Redis behind the
embedding cache when REDIS_URI is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config import Settings
from services.chat.credentials import CredentialResolver, EnvCredentials
from services.net.guard import NetPolicy
from services.providers.embeddings.local import LocalEmbedder, token_lengths
from services.rag.chunks.store import ChunkStore
from services.rag.embeddings.cache import MemoryVectorCache, RedisVectorCache, TieredVectorCache, VectorCache
from services.rag.embeddings.service import Embedder, EmbeddingService
from services.rag.fetch import UrlFetcher
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.ingest.queue import CeleryIngest, IngestQueue, InProcessIngest
from services.rag.search import Reranker, Searcher
from services.rag.service import RagService
from services.rag.store import RagRepository
from services.resilience.retry import RetryPolicy


def build_embeddings(
    settings: Settings, *, providers: Mapping[str, Any] | None = None, redis: Any = None,
    credentials: CredentialResolver | None = None,
) -> EmbeddingService:
    local = LocalEmbedder()
    local.load()
    embedders: dict[str, Embedder] = {**(providers or {}), local.name: local}
    cache: VectorCache = MemoryVectorCache(settings.rag.embed_cache_entries)
    if redis is not None:
        cache = TieredVectorCache(cache, RedisVectorCache(redis, prefix=settings.redis.key_prefix,
                                                          ttl_s=settings.rag.embed_cache_ttl_s))
    return EmbeddingService(embedders, cache, credentials or EnvCredentials(),
                            batch_size=settings.rag.embed_batch_size,
                            concurrency=settings.rag.embed_concurrency,
                            retry=RetryPolicy.from_settings(settings))


def build_repository(settings: Settings, *, database: Any = None) -> RagRepository:
    if settings.mongo.url:
        from services.rag.mongo_store import MongoRagRepository

        return MongoRagRepository(database=database) if database is not None else MongoRagRepository(settings.mongo)
    from services.rag.memory_store import MemoryRagRepository

    return MemoryRagRepository(settings.app.data_dir)


def build_chunk_store(settings: Settings) -> ChunkStore:
    url = settings.rag.database_url
    if url:
        from services.rag.chunks.pgvector_store import PgvectorChunkStore

        return PgvectorChunkStore(url, pool_max=settings.rag.pool_max, ef_search=settings.rag.hnsw_ef_search)
    from services.rag.chunks.memory_store import MemoryChunkStore

    return MemoryChunkStore(settings.app.data_dir)


def build_fetcher(settings: Settings) -> UrlFetcher:
    policy = NetPolicy.build(require_https=settings.app.production, allow_hosts=settings.rag.fetch_allow_hosts,
                             allow_cidrs=settings.rag.fetch_allow_cidrs,
                             connect_timeout_s=min(10.0, settings.rag.fetch_timeout_s),
                             read_timeout_s=settings.rag.fetch_timeout_s)
    return UrlFetcher(policy, max_bytes=settings.rag.max_document_bytes)


@dataclass
class RagRuntime:
    service: RagService
    embeddings: EmbeddingService
    close: Callable[[], Awaitable[None]]
    queue: IngestQueue


async def build_rag(
    settings: Settings, *, providers: Mapping[str, Any] | None = None, redis: Any = None,
    credentials: CredentialResolver | None = None, reranker: Reranker | None = None, database: Any = None,
) -> RagRuntime:
    """The RAG service for an API process (or `python index.py`, ingesting in process)."""
    repo, chunks = build_repository(settings, database=database), build_chunk_store(settings)
    await repo.connect()
    await chunks.connect()
    embeddings = build_embeddings(settings, providers=providers, redis=redis, credentials=credentials)
    fetcher = build_fetcher(settings)
    queue: IngestQueue
    broker = settings.rag.broker_url or settings.rabbit.url
    if settings.rag.ingest_mode == "celery" and not broker:
        raise ValueError("RAG_INGEST_MODE=celery needs RAG_BROKER_URL or QUEUE_CONNECTIONURL")
    if broker and settings.rag.ingest_mode != "in_process":
        from services.rag.ingest.celery_app import DEFAULT_QUEUE, make_celery

        name = f"{settings.rabbit.queue_prefix}{DEFAULT_QUEUE}"
        queue = CeleryIngest(make_celery(broker, queue=name, prefetch=settings.rag.ingest_prefetch), queue=name)
    else:
        queue = InProcessIngest(IngestPipeline(repo, chunks, embeddings, token_lengths(), fetcher))
    searcher = Searcher(chunks, embeddings, rrf_k=settings.rag.rrf_k,
                        candidates=settings.rag.search_candidates, reranker=reranker)
    service = RagService(repo, chunks, embeddings, searcher, queue, fetcher,
                         max_document_bytes=settings.rag.max_document_bytes)

    async def close() -> None:
        if isinstance(queue, InProcessIngest):
            await queue.drain()
        await chunks.close()
        await repo.close()

    return RagRuntime(service, embeddings, close, queue)


def ingest_pipeline_factory(
    settings: Settings,
) -> Callable[[], Awaitable[tuple[IngestPipeline, Callable[[], Awaitable[None]]]]]:
    """For a Celery worker process: builds the pipeline (and its clients) on its loop."""

    async def build() -> tuple[IngestPipeline, Callable[[], Awaitable[None]]]:
        from services.common.redis import create_redis
        from services.providers.registry import build_registry

        repo, chunks = build_repository(settings), build_chunk_store(settings)
        await repo.connect()
        await chunks.connect()
        redis = create_redis(settings, role="ingest") if settings.redis.url else None
        registry = build_registry(settings)
        embeddings = build_embeddings(settings, providers=registry, redis=redis)
        pipeline = IngestPipeline(repo, chunks, embeddings, token_lengths(), build_fetcher(settings))

        async def close() -> None:
            await registry.aclose()
            if redis is not None:
                await redis.aclose()
            await chunks.close()
            await repo.close()

        return pipeline, close

    return build
