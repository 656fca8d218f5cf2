"""The metrics sink port: where metric events are stored and usage is read back.

Adapters: `memory_sink.MemoryMetricsSink` (a list in process, for `python index.py` and
unit tests) and `postgres_sink.PostgresMetricsSink` (COPY into PostgreSQL / TimescaleDB).
tests/services/metrics/test_sink_contract.py runs one suite against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.metrics.schemas import GroupBy, MetricEvent, UsageReport


class MetricsSink(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date (idempotent)."""

    async def close(self) -> None: ...

    async def write(self, events: Sequence[MetricEvent]) -> int:
        """Store the events in one transaction; return how many rows were new.

        Idempotent on (job_id, time): an event already stored is skipped, so a redelivered
        batch never counts twice. Raises SinkUnavailable when the database cannot be
        reached (the caller keeps the events and tries again) and SinkRejected when it
        refuses the data itself.
        """

    async def usage(
        self, org_id: str, start: datetime, end: datetime, group_by: GroupBy,
    ) -> UsageReport:
        """Usage of one org for start <= time < end, grouped; groups sorted by key."""

    async def ping(self) -> None: ...


class SinkUnavailable(Exception):
    """The database cannot be reached or lost the connection: retry the same batch later."""


class SinkRejected(Exception):
    """The database refused the data (bad value): retrying the same batch will not help."""
