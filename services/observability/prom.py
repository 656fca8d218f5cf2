"""Every Prometheus metric the platform exports, defined once.

Names follow Prometheus conventions: a unit suffix (`_seconds`, `_bytes`), `_total` on
counters, labels of low cardinality only (never a job id or an org id on a histogram).
Each process serves its own registry at GET /metrics.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

M = TypeVar("M", Counter, Gauge, Histogram)


class Labelled(Generic[M]):
    """A labelled metric whose children are kept once made. `labels()` validates the values
    and takes the metric's lock on every call: at the six label look-ups of a proxied call
    that was ~2.3% of its CPU (bench/RESULTS.md); a dict hit costs a fraction of it. Label
    sets are low-cardinality by design (module docstring), so the dict stays small."""

    def __init__(self, metric: M) -> None:
        self.metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def labels(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


# Latency buckets from 1 ms to 60 s: the API answers in milliseconds, providers in seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "aim_http_requests_total", "HTTP requests by route, method and status class",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "aim_http_request_duration_seconds", "HTTP request latency by route",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)
JOBS = Labelled(Counter("aim_jobs_total", "Jobs reaching a status, by kind", ["kind", "status"]))
JOBS_IN_FLIGHT = Gauge("aim_jobs_in_flight", "Jobs being executed by this process", ["queue"])
QUEUE_DEPTH = Gauge("aim_queue_depth_messages", "Messages ready in a queue", ["queue"])
JOB_DURATION = Labelled(Histogram(
    "aim_job_duration_seconds", "Time from submit to finish, queued and inline jobs",
    ["kind", "status"], buckets=LATENCY_BUCKETS,
))
COST = Labelled(Counter(
    "aim_cost_usd_total", "Provider cost of finished jobs in US dollars", ["provider", "model"],
))
JOB_QUEUE_WAIT = Labelled(Histogram(
    "aim_job_queue_wait_seconds", "Time from submit to start", ["kind"], buckets=LATENCY_BUCKETS,
))
PROVIDER_LATENCY = Labelled(Histogram(
    "aim_provider_request_duration_seconds", "Provider call latency",
    # model: pricing.model_label (catalog entries, else "other"): bounded whatever clients send.
    ["provider", "model", "outcome"], buckets=LATENCY_BUCKETS,
))
CACHE = Labelled(Counter("aim_cache_requests_total", "Response cache lookups", ["result"]))
BREAKER_STATE = Labelled(Gauge(
    "aim_circuit_breaker_state", "0 closed, 1 half-open, 2 open", ["provider", "model"],
))
WEBHOOK_DELIVERIES = Counter(
    "aim_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "aim_webhook_delivery_duration_seconds", "Webhook delivery latency", buckets=LATENCY_BUCKETS,
)
METRICS_ROWS = Counter("aim_metric_rows_written_total", "Metric rows committed to the database")
