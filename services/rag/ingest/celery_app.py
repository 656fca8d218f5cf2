"""The Celery app for ingestion, on the platform's RabbitMQ.

Celery runs the CPU-bound part (parsing PDFs and HTML, tokenizing) in its own processes,
away from the asyncio job workers. The task itself is a thin shell: it hands
(org_id, document_id) to the async `IngestPipeline`, which runs on one event loop per
worker process (`LoopThread`), built once when the process starts, never per task.

Acks are late and a lost worker's task is requeued (at-least-once; the pipeline is
idempotent), and no result backend is used: the document record is the result. Prefetch is 4 per
process, not 1: at 1 the consumer sat ~1.2 s idle between tasks (50 documents took 70 s
against 17 s at 4, tests/services/rag/test_celery_ingest.py), while one document's task
takes tens of milliseconds, so 4 waiting behind a slow PDF cost little fairness.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from celery import Celery, Task

from services.errors import Retryable
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.ingest.queue import TASK

T = TypeVar("T")
PipelineFactory = Callable[[], Awaitable[tuple[IngestPipeline, Callable[[], Awaitable[None]]]]]
DEFAULT_QUEUE = "rag.ingest"


class LoopThread:
    """An event loop in a daemon thread; sync code submits coroutines and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ingest-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class IngestWorkerState:
    """The pipeline of this worker process and the loop it runs on."""

    def __init__(self) -> None:
        self.pipeline: IngestPipeline | None = None
        self.loop: LoopThread | None = None
        self._close: Callable[[], Awaitable[None]] | None = None

    def start(self, factory: PipelineFactory) -> None:
        if self.loop is not None:
            return
        self.loop = LoopThread()
        self.pipeline, self._close = self.loop.run(factory())  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.loop is None:
            return
        if self._close is not None:
            self.loop.run(self._close())  # type: ignore[arg-type]
        self.loop.stop()
        self.loop = self.pipeline = self._close = None


class IngestCelery(Celery):
    ingest_state: IngestWorkerState


def make_celery(
    broker_url: str, *, queue: str = DEFAULT_QUEUE, retry_delay_s: float = 5.0, prefetch: int = 4,
) -> IngestCelery:
    app = IngestCelery("ai_middleware_ingest", broker=broker_url, set_as_current=False)
    app.ingest_state = IngestWorkerState()
    app.conf.update(
        task_default_queue=queue, task_acks_late=True, task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=prefetch, task_ignore_result=True, result_backend=None,
        broker_connection_retry_on_startup=True, task_serializer="json", accept_content=["json"],
        worker_hijack_root_logger=False,
        # Building the pipeline (model weights, pools) takes ~1 s; Celery waits 4 s by default.
        worker_proc_alive_timeout=30,
    )

    # shared=False: a shared task is added to every Celery app made in the process, and each
    # app's task must reach its own worker state (several apps live in one test process).
    @app.task(name=TASK, bind=True, max_retries=5, acks_late=True, shared=False)
    def ingest_document(self: Task, org_id: str, document_id: str) -> None:
        state = app.ingest_state
        if state.loop is None or state.pipeline is None:
            raise RuntimeError("ingest worker started without a pipeline")
        try:
            state.loop.run(state.pipeline.run(org_id, document_id))  # type: ignore[arg-type]
        except Retryable as exc:
            raise self.retry(exc=exc, countdown=exc.retry_after_s or retry_delay_s) from exc

    return app
