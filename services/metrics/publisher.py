"""Turn a finished job into a metric event and publish it to the `metrics` queue.

The job listener (services/metrics/runtime.py, `Metrics.publish`) sends it, so whoever
finishes a job (a worker or the API's inline path) emits exactly one event, through the
process's outbox (outbox.py); a redelivered event is harmless because the sink is
idempotent on (job_id, time).

job.meta is written by the executor and grows over time: every read here is defensive, a
missing or odd-typed fact becomes None / 0 instead of failing the job's completion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.jobs.model import Job
from services.metrics.schemas import MetricEvent
from services.observability.prom import COST, JOB_DURATION

_CACHE_VALUES = {"hit", "miss", "bypass"}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and out >= 0 else None  # drop NaN and negatives


def _int(value: Any) -> int:
    out = _num(value)
    return int(out) if out is not None else 0


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:200] or None


def _ms_between(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start) * 1000)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def _provider_ms(meta: dict[str, Any], attempts: list[dict[str, Any]]) -> float | None:
    """Time spent waiting on providers: every call's latency, retries and fallbacks included.

    Not meta["latency_ms"]: that is the executor's whole run (cache, tool calls too).
    """
    if (explicit := _num(meta.get("provider_ms"))) is not None:
        return explicit
    timed = [t for t in (_num(a.get("latency_ms")) for a in attempts) if t is not None]
    return sum(timed) if timed else None


def _fallback_used(meta: dict[str, Any], attempts: list[dict[str, Any]]) -> bool:
    """An explicit flag when the executor records one; else whether the model that answered
    is not the one first asked (attempts are in call order, primary first)."""
    fallback = meta.get("fallback", meta.get("fallback_used"))
    if isinstance(fallback, dict):
        return bool(fallback.get("used", True))
    if fallback is not None:
        return bool(fallback)
    if not attempts or meta.get("provider") is None:
        return False
    first = (attempts[0].get("provider"), attempts[0].get("model"))
    return first != (meta.get("provider"), meta.get("model"))


def _routing(job: Job, meta: dict[str, Any], attempts: list[dict[str, Any]]) -> tuple[Any, Any]:
    """(provider, model) that answered; for a failed job the last one tried, else the asked."""
    if meta.get("provider") is not None:
        return meta.get("provider"), meta.get("model")
    if attempts:
        return attempts[-1].get("provider"), attempts[-1].get("model")
    return job.request.get("provider"), job.request.get("model")


def _bridge(meta: dict[str, Any]) -> tuple[Any, Any]:
    raw = meta.get("bridge")
    nested: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return (meta.get("bridge_id", nested.get("id")),
            meta.get("bridge_version", nested.get("version")))


def event_from_job(job: Job) -> MetricEvent:
    """The metric event for a terminal job; the time is the job's own, so it is stable."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    raw_usage = meta.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    attempts = _dicts(meta.get("attempts"))
    provider, model = _routing(job, meta, attempts)
    bridge_id, bridge_version = _bridge(meta)
    finished = job.finished_at or job.started_at or job.created_at
    cache = meta.get("cache")
    return MetricEvent(
        time=datetime.fromtimestamp(finished, UTC),
        org_id=job.org_id,
        bridge_id=_str(bridge_id),
        bridge_version=_str(bridge_version),
        job_id=job.id,
        kind=job.kind,
        provider=_str(provider),
        model=_str(model),
        status=job.status.value,
        error_class=job.error.code if job.error else None,
        cache=cache if cache in _CACHE_VALUES else None,
        # Provider calls when recorded (0 for a cache hit), else deliveries of the job.
        attempts=len(attempts) if isinstance(meta.get("attempts"), list) else _int(job.attempts),
        fallback_used=_fallback_used(meta, attempts),
        queue_ms=job.queue_ms if job.queue_ms is not None
        else _ms_between(job.created_at, job.started_at),
        provider_ms=_provider_ms(meta, attempts),
        total_ms=_ms_between(job.created_at, job.finished_at),
        input_tokens=_int(usage.get("input_tokens", usage.get("prompt_tokens"))),
        output_tokens=_int(usage.get("output_tokens", usage.get("completion_tokens"))),
        cost_usd=_num(meta.get("cost_usd")) or 0.0,
    )


def observe(event: MetricEvent) -> None:
    """The same facts feed the Prometheus latency and cost series the alert rules watch
    (k8s/base/prometheus-rules.yaml)."""
    if event.total_ms is not None:
        JOB_DURATION.labels(event.kind, event.status).observe(event.total_ms / 1000)
    if event.cost_usd:
        COST.labels(event.provider or "unknown", event.model or "unknown").inc(event.cost_usd)
