"""Versioned migrations: applied once, in order, with the layout the server supports."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from services.metrics.postgres_migrate import discover, migrate, timescale_enabled


async def connect(pg_url: str, schema: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(
        pg_url, autocommit=True, options=f"-c search_path={schema},public")


async def test_migrations_apply_once_and_are_recorded(pg_url: str, pg_schema: str) -> None:
    async with await connect(pg_url, pg_schema) as conn:
        timescale = await timescale_enabled(conn)
        layout = "timescale" if timescale else "postgres"
        assert await migrate(conn) == ["0001_request_metrics", f"0002_time_layout.{layout}"]
        assert await migrate(conn) == []
        cur = await conn.execute("SELECT version, variant FROM schema_migrations ORDER BY version")
        assert await cur.fetchall() == [(1, "all"), (2, layout)]
        cur = await conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'request_metrics'",
            (pg_schema,))
        indexes = {row[0] for row in await cur.fetchall()}
        assert "request_metrics_org_time_idx" in indexes
        if not timescale:
            assert "request_metrics_time_idx" in indexes


async def test_concurrent_start_ups_migrate_once(pg_url: str, pg_schema: str) -> None:
    conns = [await connect(pg_url, pg_schema) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(len(a) for a in applied) == [0, 0, 2]


async def test_timescale_layout_when_the_extension_is_there(pg_url: str, pg_schema: str) -> None:
    async with await connect(pg_url, pg_schema) as conn:
        if not await timescale_enabled(conn):
            pytest.skip("timescaledb is not available on this server (docker-compose.dev.yml has it)")
        await migrate(conn)
        cur = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = 'request_metrics'", (pg_schema,))
        assert (await cur.fetchone()) == (1,)
        cur = await conn.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = %s AND view_name = 'request_metrics_hourly'", (pg_schema,))
        assert (await cur.fetchone()) == (1,)


def test_discover_pairs_variants_and_rejects_strays(tmp_path: Path) -> None:
    (tmp_path / "0001_base.sql").write_text("SELECT 1")
    (tmp_path / "0002_layout.timescale.sql").write_text("SELECT 2")
    (tmp_path / "0002_layout.postgres.sql").write_text("SELECT 3")
    found = discover(tmp_path)
    assert [(m.version, m.name) for m in found] == [(1, "base"), (2, "layout")]
    assert found[1].pick(timescale=True)[0] == "timescale"
    assert found[1].pick(timescale=False)[0] == "postgres"
    assert found[0].pick(timescale=True)[0] == ""
    (tmp_path / "notes.sql").write_text("")
    with pytest.raises(RuntimeError):
        discover(tmp_path)
