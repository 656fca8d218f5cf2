"""The metric event (one per finished job) and the usage report, as versioned models.

A message on the `metrics` queue is either one `MetricEvent` (v1, what producers sent
before the outbox) or a `MetricBatch` envelope of events (v2, services/metrics/outbox.py).
The metrics pool reads both and dead-letters a version it does not know instead of
guessing, so a newer producer never silently loses rows on an older consumer (replay them
from the dead-letter queue).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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


class MetricBatch(BaseModel):
    """Many events in one message: the v2 body producers send through the outbox."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[2] = 2
    events: list[MetricEvent] = Field(min_length=1)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


@contextmanager
def _collector_paused() -> Iterator[None]:
    # A 500-event envelope makes ~2,000 GC-tracked objects, none in a cycle. The collections
    # they trigger mid-decode (scanning the pool's other live events too) doubled its cost:
    # 16.6 -> 7.4 µs an event with the collector paused, 31-36 -> 25-27 µs of pool CPU a row.
    # Paused, not skipped: the next allocation after may collect.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# One parse picks the model by `v`; a version neither model has fails validation. A plain
# tag, not a callable discriminator: that builds the whole body as Python objects first
# (7.5 -> 14 µs an event measured here).
_BODY: TypeAdapter[MetricEvent | MetricBatch] = TypeAdapter(
    Annotated[MetricEvent | MetricBatch, Field(discriminator="v")])


def decode_events(body: bytes) -> list[MetricEvent]:
    """The events of a queue message (v1 or v2); a body no retry can fix raises Permanent."""
    try:
        try:
            with _collector_paused():
                message = _BODY.validate_json(body)
        except ValidationError as exc:
            if exc.errors()[0]["type"] != "union_tag_not_found":
                raise
            # A v1 body without `v` was valid (the field defaults to 1), so it still is.
            message = MetricEvent.model_validate_json(body)
    except ValidationError as exc:
        # The first error only: a bad envelope can hold 500 of them.
        first = exc.errors(include_input=False)[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise Permanent(f"invalid metric message ({exc.error_count()} errors): {where}: {first['msg']}",
                        code="invalid_metric_event") from exc
    return message.events if isinstance(message, MetricBatch) else [message]


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
