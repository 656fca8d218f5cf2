"""Ingestion through Celery on a real RabbitMQ into a real pgvector: 50 documents queued by
the service, consumed by a Celery worker (solo pool, in a thread), indexed and searchable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from celery.contrib.testing.worker import start_worker

from services.providers.embeddings.local import token_lengths
from services.rag.chunks.pgvector_store import PgvectorChunkStore
from services.rag.ingest.celery_app import make_celery
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.ingest.queue import CeleryIngest
from services.rag.model import DocumentStatus, SourceKind
from services.rag.mongo_store import MongoRagRepository
from services.rag.schemas import CollectionCreate
from services.rag.search import SearchQuery
from tests.services.config.mongomock_async import async_mongomock_database
from tests.services.rag.support import corpus, rag_service
from tests.services.rag.wait import wait_until

COUNT = 50


async def test_fifty_documents_through_celery_into_pgvector(
    rabbit_url: str, pgvector_url: str, unique: str,
) -> None:
    queue_name = f"rag.ingest.test.{unique}"
    celery = make_celery(rabbit_url, queue=queue_name)
    # Both sides share the repository (MongoDB in production; async mongomock here).
    repo = MongoRagRepository(database=async_mongomock_database())
    await repo.connect()
    chunks = PgvectorChunkStore(pgvector_url, pool_max=4)
    await chunks.connect()
    service, _ = rag_service(repo, chunks, CeleryIngest(celery, queue=queue_name))

    async def worker_pipeline() -> tuple[IngestPipeline, Callable[[], Awaitable[None]]]:
        worker_chunks = PgvectorChunkStore(pgvector_url, pool_max=2)
        await worker_chunks.connect()
        _, pipeline = rag_service(repo, worker_chunks)
        assert pipeline is not None and token_lengths() is not None
        return pipeline, worker_chunks.close

    celery.ingest_state.start(worker_pipeline)
    try:
        col = await service.create_collection("org_a", CollectionCreate(name=f"animals-{unique}"))
        for name, text in corpus(COUNT):
            await service.add_document("org_a", col.id, kind=SourceKind.MARKDOWN, data=text.encode(),
                                       external_id=name)
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            async def all_ready() -> bool:
                page = await service.list_documents("org_a", col.id, limit=100, cursor=None)
                return all(d.status is DocumentStatus.READY for d in page.items)

            await wait_until(all_ready, timeout_s=240)
        assert await chunks.count(col) == 2 * COUNT
        hits = await service.search("org_a", col.id, SearchQuery(query="how long does zorblat42 sleep", k=3))
        found = await repo.find_document("org_a", col.id, "zorblat42")
        assert found is not None and found.id in {h.chunk.document_id for h in hits}
    finally:
        celery.ingest_state.stop()
        await chunks.close()
