"""From a finished job to its metric event, and onto the metrics queue."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from config import TimescaleSettings
from services.broker.memory import MemoryBroker
from services.broker.queues import Queue
from services.errors import Permanent
from services.jobs.events import JobListeners
from services.jobs.model import Job, JobError, JobKind, JobStatus
from services.metrics.publisher import event_from_job
from services.metrics.runtime import build_metrics
from services.metrics.schemas import MetricBatch, decode_events

CREATED = 1_772_000_000.0


def job(status: JobStatus = JobStatus.SUCCEEDED, meta: dict[str, Any] | None = None,
        **fields: Any) -> Job:
    base: dict[str, Any] = {
        "org_id": "org-a", "kind": JobKind.MODEL, "status": status, "attempts": 1,
        "created_at": CREATED, "started_at": CREATED + 0.004, "finished_at": CREATED + 0.254,
        "queue_ms": 4.0, "request": {"provider": "openai", "model": "gpt-4o-mini"},
    }
    return Job(**{**base, **fields}, meta=meta or {})


def attempt(provider: str, model: str, outcome: str = "ok", ms: float = 100.0) -> dict[str, Any]:
    return {"provider": provider, "model": model, "outcome": outcome, "latency_ms": ms,
            "error_code": None if outcome == "ok" else "provider_error", "retryable": None}


def test_succeeded_job() -> None:
    e = event_from_job(job(meta={
        "provider": "openai", "model": "gpt-4o-mini", "cache": "miss", "cost_usd": 0.0021,
        "usage": {"input_tokens": 120, "output_tokens": 40}, "latency_ms": 999.0,
        "attempts": [attempt("openai", "gpt-4o-mini", ms=240.5)],
        "bridge_id": "br_1", "bridge_version": 3,
    }))
    assert e.time == datetime.fromtimestamp(CREATED + 0.254, UTC)
    assert (e.org_id, e.kind, e.status, e.provider, e.model) == (
        "org-a", "model", "succeeded", "openai", "gpt-4o-mini")
    assert (e.bridge_id, e.bridge_version) == ("br_1", "3")
    assert (e.cache, e.attempts, e.fallback_used, e.error_class) == ("miss", 1, False, None)
    assert (e.input_tokens, e.output_tokens, e.cost_usd) == (120, 40, 0.0021)
    # Provider time is the calls' time, not the executor's whole run (latency_ms).
    assert e.provider_ms == 240.5
    assert e.queue_ms == 4.0 and e.total_ms == pytest.approx(254.0)


def test_failed_job_takes_the_error_and_the_last_model_tried() -> None:
    e = event_from_job(job(JobStatus.FAILED, error=JobError(code="provider_error", message="x"),
                           meta={"attempts": [attempt("openai", "gpt-4o-mini", "error", 50.0),
                                              attempt("openai", "gpt-4o-mini", "error", 70.0)]}))
    assert (e.status, e.error_class, e.provider, e.model) == (
        "failed", "provider_error", "openai", "gpt-4o-mini")
    assert (e.attempts, e.provider_ms, e.input_tokens, e.cost_usd) == (2, 120.0, 0, 0.0)


def test_cached_job_made_no_provider_call() -> None:
    e = event_from_job(job(meta={
        "provider": "openai", "model": "gpt-4o-mini", "cache": "hit", "cost_usd": 0.0,
        "usage": {"input_tokens": 120, "output_tokens": 40}, "attempts": [],
    }))
    assert (e.cache, e.attempts, e.provider_ms, e.fallback_used) == ("hit", 0, None, False)


def test_fallback_is_seen_from_the_attempts() -> None:
    e = event_from_job(job(meta={
        "provider": "anthropic", "model": "claude-3-5-haiku", "cache": "bypass",
        "attempts": [attempt("openai", "gpt-4o-mini", "error", 30.0),
                     attempt("anthropic", "claude-3-5-haiku", ms=90.0)],
    }))
    assert (e.fallback_used, e.attempts, e.provider, e.provider_ms) == (True, 2, "anthropic", 120.0)
    flagged = event_from_job(job(meta={"fallback": {"used": True, "from": "openai"}}))
    assert flagged.fallback_used is True


def test_odd_meta_never_breaks_the_event() -> None:
    e = event_from_job(job(JobStatus.CANCELLED, finished_at=None, queue_ms=None, meta={
        "usage": "lots", "cost_usd": "n/a", "attempts": "3", "cache": "maybe",
        "provider": {"nested": True}, "bridge": {"id": "br_9", "version": 2},
    }))
    assert (e.status, e.cache, e.cost_usd, e.input_tokens, e.provider) == (
        "cancelled", None, 0.0, 0, None)
    assert e.attempts == 1  # no provider list recorded: the job's own attempts
    assert (e.bridge_id, e.bridge_version) == ("br_9", "2")
    assert e.total_ms is None and e.queue_ms == pytest.approx(4.0, abs=0.01)


def test_both_message_versions_decode_and_bad_bodies_are_permanent() -> None:
    e, other = event_from_job(job()), event_from_job(job())
    # v1: one event per message, what older producers sent (and what may still be queued).
    assert decode_events(e.encode()) == [e]
    without_version = json.loads(e.encode())
    del without_version["v"]
    assert decode_events(json.dumps(without_version).encode()) == [e]
    # v2: the outbox's envelope.
    assert decode_events(MetricBatch(events=[e, other]).encode()) == [e, other]
    for body in (
        b"{not json",
        b"[]",
        json.dumps({**json.loads(e.encode()), "v": 3}).encode(),  # a version we do not know
        json.dumps({"v": 2, "events": []}).encode(),
        json.dumps({"v": 2, "events": [json.loads(e.encode()), {"job_id": "half"}]}).encode(),
        e.encode().replace(b'"v":1', b'"v":2'),  # a v2 marker on a v1 body
    ):
        with pytest.raises(Permanent):
            decode_events(body)


async def test_listener_returns_once_the_event_is_published() -> None:
    broker = MemoryBroker()
    metrics = await build_metrics(TimescaleSettings(url=None), broker, role="test")
    finished = job(meta={"provider": "openai", "model": "m"})
    await JobListeners([metrics.publish]).finished(finished)
    # Confirmed before the listener returned: the message is in the queue already.
    assert await broker.depth(Queue.METRICS.value) == 1
    got: list[Any] = []

    async def collect(delivery: Any) -> None:
        got.append(delivery)
        await delivery.ack()

    sub = await broker.consume(Queue.METRICS.value, collect, prefetch=10)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    await sub.cancel()
    assert [[e.job_id for e in decode_events(d.body)] for d in got] == [[finished.id]]
