"""Finished jobs -> metrics queue (RabbitMQ) -> metrics pool -> PostgreSQL rows, and the
usage API over HTTP agreeing with the rows."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api.app import create_app
from config import TimescaleSettings
from services.jobs.model import Job, JobError, JobKind, JobStatus
from tests.backends import context, new_key
from tests.services.metrics.conftest import count_rows, eventually, pipeline_settings
from workers.process import start_runner

NOW = time.time()


def finished(status: JobStatus = JobStatus.SUCCEEDED, *, error: str | None = None,
             **meta: Any) -> Job:
    return Job(org_id="org-a", kind=JobKind.MODEL, status=status, attempts=1,
               created_at=NOW - 1.0, started_at=NOW - 0.99, finished_at=NOW - 0.5, queue_ms=10.0,
               error=JobError(code=error, message="x") if error else None, meta=meta)


def attempt(provider: str, model: str, outcome: str = "ok", ms: float = 100.0) -> dict[str, Any]:
    return {"provider": provider, "model": model, "outcome": outcome, "latency_ms": ms}


JOBS = {
    "succeeded": finished(provider="openai", model="gpt-4o-mini", cache="miss", cost_usd=0.002,
                          usage={"input_tokens": 100, "output_tokens": 50},
                          attempts=[attempt("openai", "gpt-4o-mini", ms=400.0)],
                          bridge_id="br_1", bridge_version=2),
    "failed": finished(JobStatus.FAILED, error="provider_error",
                       attempts=[attempt("openai", "gpt-4o-mini", "error", 30.0),
                                 attempt("openai", "gpt-4o-mini", "error", 40.0)]),
    "cached": finished(provider="openai", model="gpt-4o-mini", cache="hit", cost_usd=0.0,
                       usage={"input_tokens": 100, "output_tokens": 50}, attempts=[]),
    "fallback": finished(provider="anthropic", model="claude-3-5-haiku", cache="miss",
                         cost_usd=0.001, usage={"input_tokens": 80, "output_tokens": 20},
                         attempts=[attempt("openai", "gpt-4o-mini", "error", 20.0),
                                   attempt("anthropic", "claude-3-5-haiku", ms=300.0)]),
}


@pytest.mark.postgres
@pytest.mark.rabbit
async def test_rows_land_with_the_right_values_and_usage_agrees(
    pg_url: str, pg_schema: str, pg_settings: TimescaleSettings, unique: str, tmp_path,
) -> None:
    settings = pipeline_settings(unique, tmp_path, pg_settings)
    async with context(settings) as ctx:
        stop = (await start_runner(ctx, ["metrics"])).stop
        await ctx.metrics.open()  # what run_worker's start-up hook does
        try:
            for job in JOBS.values():
                await ctx.lifecycle.listeners.finished(job)
            # A finished job told twice (its message was redelivered) is still one row.
            await ctx.lifecycle.listeners.finished(JOBS["succeeded"])

            async def landed() -> bool:
                return (await count_rows(pg_url, pg_schema))[0] >= 4

            await eventually(landed)
            async with await psycopg.AsyncConnection.connect(pg_url, row_factory=dict_row) as conn:
                cur = await conn.execute(
                    f'SELECT * FROM "{pg_schema}".request_metrics'.encode())
                rows = {r["job_id"]: r for r in await cur.fetchall()}
            assert len(rows) == 4
            ok = rows[JOBS["succeeded"].id]
            assert (ok["org_id"], ok["kind"], ok["status"], ok["provider"], ok["model"]) == (
                "org-a", "model", "succeeded", "openai", "gpt-4o-mini")
            assert (ok["bridge_id"], ok["bridge_version"], ok["cache"], ok["attempts"]) == (
                "br_1", "2", "miss", 1)
            assert (ok["input_tokens"], ok["output_tokens"], float(ok["cost_usd"])) == (100, 50, 0.002)
            assert (ok["provider_ms"], ok["queue_ms"]) == (400.0, 10.0)
            assert ok["total_ms"] == pytest.approx(500.0, abs=0.01)
            assert ok["time"].timestamp() == pytest.approx(NOW - 0.5, abs=1e-5)
            bad = rows[JOBS["failed"].id]
            assert (bad["status"], bad["error_class"], bad["attempts"], bad["provider_ms"]) == (
                "failed", "provider_error", 2, 70.0)
            hit = rows[JOBS["cached"].id]
            assert (hit["cache"], hit["attempts"], hit["provider_ms"], float(hit["cost_usd"])) == (
                "hit", 0, None, 0.0)
            fb = rows[JOBS["fallback"].id]
            assert (fb["fallback_used"], fb["provider"], fb["attempts"]) == (True, "anthropic", 2)
            assert not ok["fallback_used"] and not hit["fallback_used"]

            app = create_app(settings, ctx=ctx)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://test") as client:
                headers = await new_key(ctx, "org-a")
                params = {"from": time.strftime("%Y-%m-%d", time.gmtime(NOW - 86400 * 300)),
                          "to": time.strftime("%Y-%m-%d", time.gmtime(NOW + 86400 * 2))}
                got = await client.get("/api/v1/usage", params={**params, "group_by": "provider"},
                                       headers=headers)
                assert got.status_code == 200, got.text
                body = got.json()
                other = await client.get("/api/v1/usage", params=params,
                                         headers=await new_key(ctx, "org-b"))
        finally:
            await stop()
    totals = body["totals"]
    assert totals["requests"] == 4 and totals["errors"] == 1
    assert totals["input_tokens"] == sum(r["input_tokens"] for r in rows.values())
    assert totals["output_tokens"] == sum(r["output_tokens"] for r in rows.values())
    assert totals["cost_usd"] == pytest.approx(float(sum(r["cost_usd"] for r in rows.values())))
    assert totals["cache_hit_rate"] == pytest.approx(1 / 3)
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["openai"]["requests"] == 3 and groups["anthropic"]["requests"] == 1
    assert body["group_by"] == "provider" and "from" in body
    assert other.json()["totals"]["requests"] == 0
