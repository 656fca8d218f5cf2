"""The embedded metrics sink: events in a dict, usage computed in Python.

Same semantics as the PostgreSQL sink (the contract suite checks both): idempotent on
(job_id, time), start <= time < end, percentiles interpolated like percentile_cont, groups
sorted by key with None last. Memory grows with the events kept; `python index.py` is a
development backend, so nothing is evicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.metrics.schemas import (
    GroupBy,
    Latency,
    MetricEvent,
    UsageGroup,
    UsageReport,
    UsageStats,
    time_key,
)


def percentile_cont(sorted_values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont over already sorted values (None when empty)."""
    if not sorted_values:
        return None
    position = fraction * (len(sorted_values) - 1)
    low, high = math.floor(position), math.ceil(position)
    base = sorted_values[low]
    return base + (sorted_values[high] - base) * (position - low)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _key_of(group_by: GroupBy) -> Callable[[MetricEvent], str | None]:
    if group_by is GroupBy.DAY:
        return lambda e: time_key(_utc(e.time).replace(hour=0, minute=0, second=0, microsecond=0))
    if group_by is GroupBy.HOUR:
        return lambda e: time_key(_utc(e.time).replace(minute=0, second=0, microsecond=0))
    if group_by is GroupBy.BRIDGE:
        return lambda e: e.bridge_id
    if group_by is GroupBy.MODEL:
        return lambda e: e.model
    return lambda e: e.provider


def summarize(events: Sequence[MetricEvent]) -> UsageStats:
    """The usage statistics of a set of events."""
    requests = len(events)
    errors = sum(1 for e in events if e.status == "failed")
    hits = sum(1 for e in events if e.cache == "hit")
    lookups = hits + sum(1 for e in events if e.cache == "miss")
    latencies = sorted(e.total_ms for e in events if e.total_ms is not None)
    return UsageStats(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        input_tokens=sum(e.input_tokens for e in events),
        output_tokens=sum(e.output_tokens for e in events),
        cost_usd=sum(e.cost_usd for e in events),
        latency_ms=Latency(
            p50=percentile_cont(latencies, 0.5),
            p95=percentile_cont(latencies, 0.95),
            p99=percentile_cont(latencies, 0.99),
        ),
        cache_hit_rate=hits / lookups if lookups else 0.0,
    )


class MemoryMetricsSink:
    """The in-process MetricsSink."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, datetime], MetricEvent] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def write(self, events: Sequence[MetricEvent]) -> int:
        new = 0
        for event in events:
            key = (event.job_id, event.time)
            if key not in self._rows:
                self._rows[key] = event
                new += 1
        return new

    def rows(self) -> list[MetricEvent]:
        """Every stored event, oldest write first (for tests and the embedded dashboard)."""
        return list(self._rows.values())

    async def usage(
        self, org_id: str, start: datetime, end: datetime, group_by: GroupBy,
    ) -> UsageReport:
        selected = [
            e for e in self._rows.values() if e.org_id == org_id and start <= e.time < end
        ]
        key_of = _key_of(group_by)
        groups: dict[str | None, list[MetricEvent]] = {}
        for event in selected:
            groups.setdefault(key_of(event), []).append(event)
        ordered = sorted(groups, key=lambda k: (k is None, k or ""))
        return UsageReport(
            from_=start, to=end, group_by=group_by,
            groups=[UsageGroup(key=k, **summarize(groups[k]).model_dump()) for k in ordered],
            totals=summarize(selected),
        )
