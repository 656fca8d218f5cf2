"""Where a document goes to be ingested: a Celery task on RabbitMQ, or a task in this
process (the embedded `make run` setup, and tests of the pipeline itself)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from services.errors import Retryable
from services.rag.ingest.pipeline import IngestPipeline

log = logging.getLogger(__name__)
TASK = "rag.ingest_document"


class IngestQueue(Protocol):
    async def submit(self, org_id: str, document_id: str) -> None:
        """Hand the document to ingestion; returns once it is queued, not when it is done."""


class InProcessIngest:
    """Runs the pipeline as asyncio tasks; `drain()` waits for all of them (tests, shutdown)."""

    def __init__(self, pipeline: IngestPipeline, *, retries: int = 3, retry_wait_s: float = 1.0) -> None:
        self._pipeline = pipeline
        self._tasks: set[asyncio.Task[None]] = set()
        self._retries = retries
        self._retry_wait_s = retry_wait_s

    async def submit(self, org_id: str, document_id: str) -> None:
        task = asyncio.create_task(self._run(org_id, document_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, org_id: str, document_id: str) -> None:
        for attempt in range(1, self._retries + 1):
            try:
                await self._pipeline.run(org_id, document_id)
                return
            except Retryable as exc:
                log.warning("ingestion will be retried", extra={"document_id": document_id, "code": exc.code})
                if attempt == self._retries:
                    return
                await asyncio.sleep(self._retry_wait_s * attempt)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class CeleryIngest:
    """Publishes `rag.ingest_document(org_id, document_id)`; the message carries ids only."""

    def __init__(self, celery: Any, *, queue: str) -> None:
        self._celery = celery
        self._queue = queue

    async def submit(self, org_id: str, document_id: str) -> None:
        # kombu's publish is blocking (with confirms): keep it off the event loop.
        await asyncio.to_thread(self._celery.send_task, TASK, args=[org_id, document_id], queue=self._queue)
