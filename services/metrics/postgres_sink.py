"""The PostgreSQL / TimescaleDB metrics sink (psycopg 3, async pool).

A batch is written with COPY into a per-connection temporary staging table, then moved with
`INSERT ... SELECT ... ON CONFLICT (job_id, time) DO NOTHING` in the same transaction: COPY
is the fastest way in (one round trip for the whole batch), and the staging step makes it
idempotent, which COPY into the real table is not (one duplicate aborts the whole COPY).
COPY runs in binary: ~2 µs of client CPU a row instead of ~10 for text (bench/RESULTS.md).
Usage queries read the base table, so they answer the same on TimescaleDB and on plain
PostgreSQL and percentiles come from the raw rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from config import TimescaleSettings
from services.errors import Unavailable
from services.metrics.postgres_migrate import migrate
from services.metrics.schemas import (
    GroupBy,
    Latency,
    MetricEvent,
    UsageGroup,
    UsageReport,
    UsageStats,
    time_key,
)
from services.metrics.sink import SinkRejected, SinkUnavailable
from services.observability.prom import METRICS_ROWS

log = logging.getLogger(__name__)

COLUMNS = (
    "time", "org_id", "bridge_id", "bridge_version", "job_id", "kind", "provider", "model",
    "status", "error_class", "cache", "attempts", "fallback_used", "queue_ms", "provider_ms",
    "total_ms", "input_tokens", "output_tokens", "cost_usd",
)
_COLS = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
_STAGE = sql.SQL(
    "CREATE TEMPORARY TABLE IF NOT EXISTS request_metrics_stage"
    " (LIKE request_metrics INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_COPY = sql.SQL("COPY request_metrics_stage ({}) FROM STDIN (FORMAT BINARY)").format(_COLS)
# Binary COPY needs the exact column types (migrations/0001), in COLUMNS order.
_TYPES = ("timestamptz", *["text"] * 10, "int2", "bool", "float8", "float8", "float8",
          "int4", "int4", "numeric")
# Binary integers are not range-checked: 2**40 into an integer column silently wraps. _row
# refuses what the columns cannot hold, as the server does for text.
_INT2_MAX, _INT4_MAX = 2**15 - 1, 2**31 - 1
_MOVE = sql.SQL(
    "INSERT INTO request_metrics ({cols}) SELECT {cols} FROM request_metrics_stage"
    " ON CONFLICT (job_id, time) DO NOTHING"
).format(cols=_COLS)

_KEYS = {
    GroupBy.DAY: sql.SQL("date_trunc('day', time, 'UTC')"),
    GroupBy.HOUR: sql.SQL("date_trunc('hour', time, 'UTC')"),
    GroupBy.BRIDGE: sql.SQL("bridge_id"),
    GroupBy.MODEL: sql.SQL("model"),
    GroupBy.PROVIDER: sql.SQL("provider"),
}
# One scan gives the groups and the totals (the empty grouping set). Text keys sort
# bytewise (COLLATE "C") so the order matches the embedded sink's.
_USAGE = """
SELECT {key} AS key,
       GROUPING({key}) AS is_total,
       count(*) AS requests,
       count(*) FILTER (WHERE status = 'failed') AS errors,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY total_ms) AS latency,
       count(*) FILTER (WHERE cache = 'hit') AS cache_hits,
       count(*) FILTER (WHERE cache IN ('hit', 'miss')) AS cache_lookups
FROM request_metrics
WHERE org_id = %s AND time >= %s AND time < %s
GROUP BY GROUPING SETS (({key}), ())
ORDER BY is_total, {key} {collate} NULLS LAST
"""


def _text(value: str | None) -> str | None:
    """Text PostgreSQL accepts: it refuses NUL in text and UTF-8 has no lone surrogates, and a
    client-chosen model name must not cost the job its row, so both become U+FFFD."""
    if value is None:
        return None
    return value.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _row(e: MetricEvent) -> tuple[Any, ...]:
    if e.attempts > _INT2_MAX or max(e.input_tokens, e.output_tokens) > _INT4_MAX:
        raise SinkRejected(f"integer out of range for job {e.job_id}")
    return (
        e.time,
        *(_text(v) for v in (e.org_id, e.bridge_id, e.bridge_version, e.job_id, e.kind,
                             e.provider, e.model, e.status, e.error_class, e.cache)),
        e.attempts, e.fallback_used, e.queue_ms,
        e.provider_ms, e.total_ms, e.input_tokens, e.output_tokens,
        # Through its shortest repr, so numeric rounds the same decimal text COPY sent.
        Decimal(repr(e.cost_usd)),
    )


def _stats(row: dict[str, Any]) -> dict[str, Any]:
    requests, errors = row["requests"], row["errors"]
    p50, p95, p99 = row["latency"] or (None, None, None)
    lookups = row["cache_lookups"]
    cost: Decimal | float = row["cost_usd"]
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "input_tokens": int(row["input_tokens"]),
        "output_tokens": int(row["output_tokens"]),
        "cost_usd": float(cost),
        "latency_ms": Latency(p50=p50, p95=p95, p99=p99),
        "cache_hit_rate": row["cache_hits"] / lookups if lookups else 0.0,
    }


def _unavailable() -> Unavailable:
    return Unavailable("metrics database unreachable", code="metrics_db_unavailable")


class PostgresMetricsSink:
    """MetricsSink over a psycopg AsyncConnectionPool; `open` migrates before serving."""

    def __init__(self, settings: TimescaleSettings, *, role: str = "all") -> None:
        if not settings.url:
            raise ValueError("PostgresMetricsSink needs TIMESCALE_SERVICE_URL")
        self._settings = settings
        self._kwargs: dict[str, Any] = {"application_name": f"ai-middleware-{role}-metrics"}
        if settings.db_schema:
            # public stays on the path: TimescaleDB's functions live there.
            self._kwargs["options"] = f"-c search_path={settings.db_schema},public"
        self._pool = AsyncConnectionPool(
            settings.url, min_size=1, max_size=settings.pool_max, open=False,
            kwargs={**self._kwargs, "autocommit": True}, name="metrics",
            # Give up on a dead server after this long per attempt; the batcher retries.
            timeout=settings.connect_timeout_s,
        )
        self._opened = False
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        async with self._opening:
            if self._opened:
                return
            async with await psycopg.AsyncConnection.connect(
                self._settings.url or "",
                connect_timeout=max(1, round(self._settings.connect_timeout_s)), **self._kwargs,
            ) as conn:
                await migrate(conn)
            await self._pool.open(wait=True, timeout=self._settings.connect_timeout_s)
            self._opened = True

    async def _ready(self) -> None:
        # Opened at start-up when the database is up; otherwise on first use, so a process
        # that started during an outage recovers without a restart.
        if not self._opened:
            await self.open()

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        try:
            await self._ready()
            async with self._pool.connection() as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable() from exc

    async def write(self, events: Sequence[MetricEvent]) -> int:
        if not events:
            return 0
        try:
            await self._ready()
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(_STAGE)
                async with conn.cursor().copy(_COPY) as copy:
                    copy.set_types(_TYPES)
                    for event in events:
                        await copy.write_row(_row(event))
                cur = await conn.execute(_MOVE)
                inserted = max(cur.rowcount, 0)
        except (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError) as exc:
            # UnicodeEncodeError: a lone surrogate in a string, which UTF-8 cannot carry.
            raise SinkRejected(str(exc)) from exc
        except (psycopg.Error, PoolTimeout) as exc:
            # Lost connection, server down, revoked rights, missing table: the environment,
            # not the data, so the same batch is worth retrying.
            raise SinkUnavailable(str(exc)) from exc
        METRICS_ROWS.inc(inserted)
        return inserted

    async def usage(
        self, org_id: str, start: datetime, end: datetime, group_by: GroupBy,
    ) -> UsageReport:
        collate = sql.SQL("") if group_by.is_time else sql.SQL('COLLATE "C"')
        query = sql.SQL(_USAGE).format(key=_KEYS[group_by], collate=collate)
        try:
            await self._ready()
            async with self._pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(query, (org_id, start, end))
                rows = await cur.fetchall()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise _unavailable() from exc
        groups = []
        totals = UsageStats()
        for row in rows:
            if row["is_total"]:
                totals = UsageStats(**_stats(row))
                continue
            key = row["key"]
            if isinstance(key, datetime):
                key = time_key(key)
            groups.append(UsageGroup(key=key, **_stats(row)))
        return UsageReport(
            from_=start, to=end, group_by=group_by,
            groups=groups, totals=totals,
        )
