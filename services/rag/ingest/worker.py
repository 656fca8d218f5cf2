"""`python index.py worker --pool ingest` and plain `celery -A services.rag.ingest.worker worker`.

The pipeline is built from settings in each worker process when it starts (prefork
children on `worker_process_init`, solo/threads pools on `worker_init`).
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from config import Settings, load_settings
from services.rag.ingest.celery_app import DEFAULT_QUEUE, IngestCelery, make_celery


def build_celery(settings: Settings) -> IngestCelery:
    broker = settings.rag.broker_url or settings.rabbit.url
    if not broker:
        raise RuntimeError("the ingest pool needs QUEUE_CONNECTIONURL (or RAG_BROKER_URL)")
    queue = f"{settings.rabbit.queue_prefix}{DEFAULT_QUEUE}"
    celery = make_celery(broker, queue=queue, prefetch=settings.rag.ingest_prefetch)

    def start(**_: Any) -> None:
        from services.rag.runtime import ingest_pipeline_factory

        celery.ingest_state.start(ingest_pipeline_factory(settings))

    def stop(**_: Any) -> None:
        celery.ingest_state.stop()

    worker_process_init.connect(start, weak=False)
    worker_process_shutdown.connect(stop, weak=False)

    def start_single(sender: Any = None, **_: Any) -> None:
        if _single_process(sender):
            start()

    worker_init.connect(start_single, weak=False)
    worker_shutdown.connect(stop, weak=False)
    return celery


def _single_process(worker: Any) -> bool:
    pool = str(getattr(worker, "pool_cls", "") or "")
    return "solo" in pool or "thread" in pool


def run_ingest_worker(settings: Settings, concurrency: int | None = None) -> None:
    """Blocks running a Celery worker on the ingest queue until SIGTERM (warm shutdown)."""
    celery = build_celery(settings)
    argv = ["worker", "--loglevel", settings.app.log_level, "-Q", str(celery.conf.task_default_queue)]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    celery.worker_main(argv)


def __getattr__(name: str) -> Any:
    # `celery -A services.rag.ingest.worker worker` looks up `app`: built then, not at import.
    if name in ("app", "celery"):
        built = build_celery(load_settings())
        globals()[name] = built
        return built
    raise AttributeError(name)
