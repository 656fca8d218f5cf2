"""Serving this process's Prometheus metrics: the API's GET /metrics and the workers'
small HTTP server.

Under gunicorn with several workers each process has its own counters; set
PROMETHEUS_MULTIPROC_DIR (an empty directory, per prometheus_client's multiprocess mode)
and every process's samples are merged at scrape time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)

log = logging.getLogger(__name__)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render_metrics() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


@dataclass(frozen=True, slots=True)
class MetricsServer:
    port: int
    stop: Callable[[], None]


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> MetricsServer:
    """Serve GET /metrics on `port` from a daemon thread (port 0 picks a free one).

    A thread rather than the event loop: a scrape never waits behind busy handlers, and a
    blocked loop still shows its last numbers. workers/process.py starts it per worker.
    """
    server, thread = start_http_server(port, addr=addr, registry=_registry())
    bound = int(server.server_port)
    log.info("prometheus metrics served", extra={"port": bound})

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return MetricsServer(bound, stop)


def serve_worker_metrics(port: int, addr: str = "127.0.0.1") -> MetricsServer | None:
    """Start the worker's metrics server; a port already taken (several workers on one
    host outside Kubernetes) is logged and skipped rather than stopping the worker."""
    if not port:
        return None
    try:
        return start_metrics_server(port, addr)
    except OSError as exc:
        log.warning("metrics port unavailable; this worker serves no /metrics",
                    extra={"port": port, "error": str(exc)})
        return None
