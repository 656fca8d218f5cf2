"""The metric event (one per finished job) and the usage report, as versioned models.

`MetricEvent` is the message on the `metrics` queue: producers stamp `v`, the metrics pool
dead-letters a version it does not know instead of guessing, so a newer producer never
silently loses rows on an older consumer (replay them from the dead-letter queue).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.errors import Permanent


class MetricEvent(BaseModel):
    """What one finished job cost and how it went; the `request_metrics` row, field for field."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1
    time: datetime
    org_id: str
    bridge_id: str | None = None
    bridge_version: str | None = None
    job_id: str
    kind: str
    provider: str | None = None
    model: str | None = None
    status: str
    error_class: str | None = None
    # "hit", "miss" or "bypass" (the request asked not to use the cache); None: not recorded.
    cache: Literal["hit", "miss", "bypass"] | None = None
    attempts: int = Field(default=0, ge=0)
    fallback_used: bool = False
    queue_ms: float | None = None
    provider_ms: float | None = None
    total_ms: float | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


def decode_event(body: bytes) -> MetricEvent:
    """Parse a queue message; a body no retry can fix raises Permanent (dead-letter)."""
    try:
        return MetricEvent.model_validate_json(body)
    except ValueError as exc:
        raise Permanent(f"invalid metric event: {exc}", code="invalid_metric_event") from exc


def time_key(moment: datetime) -> str:
    """A day / hour bucket as the usage API shows it: ISO-8601 in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GroupBy(StrEnum):
    DAY = "day"
    HOUR = "hour"
    BRIDGE = "bridge"
    MODEL = "model"
    PROVIDER = "provider"

    @property
    def is_time(self) -> bool:
        return self in (GroupBy.DAY, GroupBy.HOUR)


class Latency(BaseModel):
    """Percentiles of total_ms (submit to finish), interpolated like percentile_cont."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class UsageStats(BaseModel):
    requests: int = 0
    errors: int = 0
    error_rate: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: Latency = Field(default_factory=Latency)
    # Hits over cache lookups (hit + miss); requests that bypassed the cache are left out.
    cache_hit_rate: float = 0.0


class UsageGroup(UsageStats):
    # ISO-8601 UTC bucket start for day/hour; the bridge, model or provider otherwise
    # (None for jobs that had none, e.g. a bridge-less request).
    key: str | None


class UsageReport(BaseModel):
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    group_by: GroupBy
    groups: list[UsageGroup]
    totals: UsageStats
