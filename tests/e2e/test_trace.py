"""One job, one trace: the API request, the RabbitMQ message, the worker (in another
process), the cache, the provider call and the webhook delivery share a trace id; an inline
run's cache lookup and provider call sit inside its request's trace.

The API runs in the test process with an in-memory exporter; the worker is a real
`python index.py worker` process writing its spans as JSON lines to a file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from config import TracingSettings
from services.observability import tracing
from tests.e2e.processes import start_worker
from tests.platform import platform
from tests.webhook_support import Receiver, webhook_platform


def _read_spans(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


async def _worker_spans(path: Path, until: str, within_s: float = 30) -> list[dict[str, Any]]:
    """The worker's finished spans once one named `until` is among them."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        spans = _read_spans(path)
        if any(s["name"] == until for s in spans) or asyncio.get_running_loop().time() > deadline:
            return spans
        await asyncio.sleep(0.1)


def _hex(value: int) -> str:
    return f"0x{value:032x}"


async def test_one_job_is_one_trace_from_the_api_to_the_webhook(
    rabbit_url: str, redis_url: str, unique: str, tmp_path: Path,
) -> None:
    exporter = InMemorySpanExporter()
    stop_tracing = tracing.setup(TracingSettings(), "test-api", exporter=exporter)
    spans_file = tmp_path / "worker-spans.jsonl"
    try:
        async with Receiver() as receiver, webhook_platform("real", unique, tmp_path, pools=()) as p:
            await p.ctx.broker.declare(["jobs.model", "webhooks"])
            worker = start_worker(
                p.ctx.settings, "model,webhooks", TRACING_ENABLED="true", TRACING_EXPORTER="console",
                TRACING_FILE=str(spans_file), WEBHOOKS_ALLOW_CIDRS='["127.0.0.0/8"]', APP_METRICS_PORT="0",
            )
            try:
                response = await p.client.post("/api/v1/jobs", headers=p.org_a, json={"kind": "model", "payload": {
                    "model": "mock-0ms", "messages": [{"role": "user", "content": f"trace {unique}"}],
                    "temperature": 0, "webhook": {"url": receiver.url}}})
                assert response.status_code == 202, response.text
                await receiver.wait_for(1, within_s=30)
                # The delivery's span ends before the span of the message around it.
                remote = await _worker_spans(spans_file, "process webhooks")
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    finally:
        stop_tracing()

    local = {s.name: s for s in exporter.get_finished_spans()}
    request, publish = local["POST /api/v1/jobs"], local["publish jobs.model"]
    assert request.context is not None and publish.context is not None
    trace_id = request.context.trace_id
    assert publish.context.trace_id == trace_id
    assert publish.parent is not None and publish.parent.span_id == request.context.span_id

    by_name = {s["name"]: s for s in remote}
    expected = ["process jobs.model", "cache lookup", "provider mock", "publish webhooks",
                "process webhooks", "webhook deliver"]
    assert set(expected) <= set(by_name), sorted(by_name)
    for name in expected:
        assert by_name[name]["context"]["trace_id"] == _hex(trace_id), name
    # The worker's span is a child of the API's publish: the context crossed RabbitMQ.
    assert by_name["process jobs.model"]["parent_id"] == f"0x{publish.context.span_id:016x}"
    assert by_name["provider mock"]["attributes"]["gen_ai.request.model"] == "mock-0ms"
    assert by_name["cache lookup"]["attributes"]["cache.result"] == "miss"
    assert by_name["webhook deliver"]["attributes"]["http.response.status_code"] == 200


async def test_an_inline_run_is_traced_inside_its_request(unique: str, tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    stop_tracing = tracing.setup(TracingSettings(), "test-api", exporter=exporter)
    try:
        async with platform("embedded", unique, tmp_path, workers=False) as p:
            response = await p.client.post("/v1/chat/completions", headers=p.org_a, json={
                "model": "mock/mock-0ms", "temperature": 0,
                "messages": [{"role": "user", "content": f"inline {unique}"}]})
            assert response.status_code == 200, response.text
    finally:
        stop_tracing()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    request = spans["POST /v1/chat/completions"]
    assert request.context is not None
    for name in ("cache lookup", "provider mock"):
        span = spans[name]
        assert span.context is not None and span.context.trace_id == request.context.trace_id, name
    assert spans["provider mock"].attributes is not None
    assert spans["provider mock"].attributes["gen_ai.request.model"] == "mock-0ms"
