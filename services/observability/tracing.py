"""Distributed tracing with OpenTelemetry: one trace per job, from the API request through
the RabbitMQ message to the worker, each provider attempt, the cache and the webhook.

Off unless TRACING_ENABLED=true, and then free: nothing from the OpenTelemetry SDK is
imported or initialised, `span()` hands back one shared no-op context manager and
`inject()` returns the headers untouched (a dict lookup and a None check per call).

The trace context crosses processes as W3C `traceparent` / `tracestate` message headers:
`inject` on publish (services/broker/*), `span(..., parent=headers)` on consume
(workers/runner.py). The provider and the propagator are this module's own rather than
OpenTelemetry's process-wide globals, so a test can set one up and tear it down again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.context import Context as TraceContext
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)
Attribute = str | int | float | bool


@dataclass(slots=True)
class _Tracing:
    tracer: Tracer
    propagator: TraceContextTextMapPropagator
    shutdown: Callable[[], None]


_active: _Tracing | None = None
_NOOP: contextlib.nullcontext[None] = contextlib.nullcontext()


def enabled() -> bool:
    return _active is not None


def setup(settings: TracingSettings, service_name: str, *,
          exporter: SpanExporter | None = None) -> Callable[[], None]:
    """Start tracing for this process when enabled (or handed an exporter, as tests do);
    returns the function that flushes and stops it."""
    global _active
    if exporter is None and (not settings.enabled or settings.exporter == "none"):
        return lambda: None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    # OTEL_SERVICE_NAME, when set, names the service; otherwise the process role does.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(_console_exporter(settings.file)))
    elif settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Batched: spans leave on a background thread, never on the request's path.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(f"unknown trace exporter {settings.exporter!r}; use otlp or console")

    def shutdown() -> None:
        global _active
        _active = None
        provider.shutdown()

    _active = _Tracing(provider.get_tracer("ai-middleware"), TraceContextTextMapPropagator(), shutdown)
    log.info("tracing on", extra={"exporter": "custom" if exporter else settings.exporter})
    return shutdown


def _console_exporter(path: str | None) -> SpanExporter:
    import sys

    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    out = open(path, "a", encoding="utf-8") if path else sys.stdout  # open for the process lifetime
    return ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\n")


def inject(headers: dict[str, str | int]) -> dict[str, str | int]:
    """Add the current trace context to message headers (in place; returned for chaining)."""
    if _active is not None:
        carrier: dict[str, str] = {}
        _active.propagator.inject(carrier)
        headers.update(carrier)
    return headers


def extract(headers: Mapping[str, Any]) -> TraceContext | None:
    """The trace context a message carries, or None (off, or no `traceparent` header)."""
    if _active is None or "traceparent" not in headers:
        return None
    return _active.propagator.extract({k: str(v) for k, v in headers.items()})


def span(name: str, *, kind: str = "internal", parent: Mapping[str, Any] | None = None,
         attributes: Mapping[str, Attribute] | None = None) -> contextlib.AbstractContextManager[Span | None]:
    """A span around a block, current inside it; a no-op yielding None when tracing is off.

    `parent` is a carrier of W3C headers (a received message's) to continue its trace. An
    exception leaving the block is recorded on the span and marks it as an error.
    """
    if _active is None:
        return _NOOP
    return _start(_active, name, kind, parent, attributes or {})


@contextlib.contextmanager
def _start(active: _Tracing, name: str, kind: str, parent: Mapping[str, Any] | None,
           attributes: Mapping[str, Attribute]) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    context = extract(parent) if parent is not None else None
    with active.tracer.start_as_current_span(
        name, context=context, kind=SpanKind[kind.upper()], attributes=attributes,
    ) as current:
        yield current


def set_attributes(current: Span | None, attributes: Mapping[str, Attribute | None]) -> None:
    """Set attributes on a span from `span()` (None: tracing is off, nothing to do)."""
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits (for log lines), or None."""
    if _active is None:
        return None
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
