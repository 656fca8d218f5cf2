"""The tracing helpers: free when off, W3C context through message headers when on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config import TracingSettings
from services.broker.base import Delivery, OutgoingMessage
from services.broker.memory import MemoryBroker
from services.observability import tracing


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    stop = tracing.setup(TracingSettings(), "test", exporter=exporter)
    yield exporter
    stop()


def test_off_by_default_is_a_no_op() -> None:
    stop = tracing.setup(TracingSettings(), "test")
    stop()
    assert not tracing.enabled()
    headers: dict[str, str | int] = {"v": 1}
    assert tracing.inject(headers) == {"v": 1}
    with tracing.span("nothing") as current:
        assert current is None
        assert tracing.current_trace_id() is None


def test_off_never_imports_the_sdk() -> None:
    # A fresh interpreter: the modules every process imports pull in no OpenTelemetry SDK.
    code = ("import services.observability.tracing, services.common.logging, workers.runner, api.app, sys;"
            "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_a_message_carries_the_trace_to_its_consumer(exporter: InMemorySpanExporter) -> None:
    broker = MemoryBroker()
    await broker.declare(["q"])
    with tracing.span("request") as request:
        await broker.publish("q", OutgoingMessage(b"{}", "m1"))
    assert request is not None
    received: list[dict[str, str | int]] = []
    sub = await broker.consume("q", lambda d: _collect(received, d), prefetch=1)
    while not received:
        await asyncio.sleep(0.01)
    await sub.cancel()
    headers = received[0]
    assert str(headers["traceparent"]).startswith(f"00-{request.get_span_context().trace_id:032x}-")
    with tracing.span("consume", kind="consumer", parent=headers) as consumer:
        assert consumer is not None
        assert tracing.current_trace_id() == f"{request.get_span_context().trace_id:032x}"
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["publish q", "request", "consume"]


async def _collect(into: list[dict[str, str | int]], delivery: Delivery) -> None:
    into.append(delivery.headers)
    await delivery.ack()


def test_log_lines_carry_the_trace_id(exporter: InMemorySpanExporter) -> None:
    import logging

    from services.common.logging import JsonFormatter

    record = logging.LogRecord("t", logging.INFO, "", 0, "hello", (), None)
    with tracing.span("work") as current:
        assert current is not None
        line = JsonFormatter().format(record)
    assert f'"trace_id":"{current.get_span_context().trace_id:032x}"' in line
    assert "trace_id" not in JsonFormatter().format(record)


def test_otlp_export_goes_where_the_otel_variables_say(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "aim-test-service")
    try:
        stop = tracing.setup(TracingSettings(enabled=True), "ignored-name")
        with tracing.span("exported work"):
            pass
        stop()  # flushes the batch
    finally:
        server.shutdown()
        server.server_close()
    ((path, content_type, body),) = received
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert b"exported work" in body and b"aim-test-service" in body
