"""Serving this process's Prometheus metrics: the API's GET /metrics and the workers'
small HTTP server, which also answers their liveness and readiness probes.

Under gunicorn with several workers each process has its own counters; set
PROMETHEUS_MULTIPROC_DIR (an empty directory, per prometheus_client's multiprocess mode)
and every process's samples are merged at scrape time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    make_wsgi_app,
)

log = logging.getLogger(__name__)
# A probe answers (passing, details): /healthz and /readyz on a worker (workers/health.py).
Probe = Callable[[], tuple[bool, dict[str, Any]]]


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


def start_metrics_server(port: int, addr: str = "127.0.0.1", *,
                         probes: Mapping[str, Probe] | None = None) -> MetricsServer:
    """Serve GET /metrics on `port` from a daemon thread (port 0 picks a free one), and
    each of `probes` on its path (e.g. /healthz): 200 when it passes, 503 when it fails,
    with its details as JSON.

    A thread rather than the event loop: a scrape never waits behind busy handlers, and a
    blocked loop still shows its last numbers (and fails its heartbeat probe, which it
    could not if the loop answered it). workers/process.py starts it per worker.
    """
    metrics_app = make_wsgi_app(_registry())
    routes = dict(probes or {})

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        probe = routes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        ok, detail = probe()
        body = orjson.dumps({"status": "ok" if ok else "failing", **detail})
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server(addr, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    bound = int(server.server_port)
    log.info("prometheus metrics served", extra={"port": bound, "probes": sorted(routes)})

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return MetricsServer(bound, stop)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes every few seconds would flood the log."""


def serve_worker_metrics(
    port: int, addr: str = "127.0.0.1", *, probes: Mapping[str, Probe] | None = None,
) -> MetricsServer | None:
    """Start the worker's metrics (and probe) server; a port already taken (several workers
    on one host outside Kubernetes) is logged and skipped rather than stopping the worker."""
    if not port:
        return None
    try:
        return start_metrics_server(port, addr, probes=probes)
    except OSError as exc:
        log.warning("metrics port unavailable; this worker serves no /metrics",
                    extra={"port": port, "error": str(exc)})
        return None
