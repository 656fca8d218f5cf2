"""Batches end to end on RabbitMQ + Redis: 1,000 requests through /api/v1/batches and through
the openai SDK's files + batches API, progress counts, results, and cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from tests.e2e.batch_support import sdk_batch
from tests.platform import platform

N = 1000


def _requests(n: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"r{i}", "payload": {"provider": "mock", "model": "mock-0ms", "cache": False,
                                               "messages": [{"role": "user", "content": f"echo {i}"}]}}
            for i in range(n)]


async def test_a_thousand_request_batch_runs_with_counts_and_jsonl_results(unique: str, tmp_path: Path) -> None:
    async with platform("real", unique, tmp_path, concurrency=50) as p:
        created = await p.client.post("/api/v1/batches", json={"requests": _requests(N)}, headers=p.org_a)
        assert created.status_code == 201, created.text
        batch = await p.batch_until(created.json()["id"], {"completed"})
        assert batch["counts"] == {"succeeded": N, "failed": 0, "cancelled": 0, "completed": N, "total": N}
        results = await p.client.get(f"/api/v1/batches/{batch['id']}/results", headers=p.org_a)
        lines = [orjson.loads(line) for line in results.content.splitlines()]
        assert len(lines) == N
        assert {line["custom_id"] for line in lines} == {f"r{i}" for i in range(N)}
        assert all(line["status"] == "succeeded" and line["result"]["content"] for line in lines)
        # Another org cannot see it.
        assert (await p.client.get(f"/api/v1/batches/{batch['id']}", headers=p.org_b)).status_code == 404


async def test_jsonl_upload_and_bad_input_names_the_field(unique: str, tmp_path: Path) -> None:
    async with platform("real", unique, tmp_path) as p:
        body = b"\n".join(orjson.dumps(r) for r in _requests(3))
        created = await p.client.post("/api/v1/batches", content=body,
                                      headers={**p.org_a, "Content-Type": "application/jsonl"})
        assert created.status_code == 201 and created.json()["total"] == 3
        bad = _requests(2)
        bad[1]["payload"] = {"messages": "nope"}
        refused = await p.client.post("/api/v1/batches", json={"requests": bad}, headers=p.org_a)
        assert refused.status_code == 422
        assert "requests[1].payload" in refused.text


async def test_cancel_stops_the_remaining_jobs(unique: str, tmp_path: Path) -> None:
    async with platform("real", unique, tmp_path, concurrency=2) as p:
        slow = [{"custom_id": f"s{i}", "payload": {"provider": "mock", "model": "mock-50ms", "cache": False,
                                                   "messages": [{"role": "user", "content": "x"}]}}
                for i in range(200)]
        created = (await p.client.post("/api/v1/batches", json={"requests": slow}, headers=p.org_a)).json()
        await asyncio.sleep(0.5)
        cancelled = await p.client.post(f"/api/v1/batches/{created['id']}/cancel", headers=p.org_a)
        assert cancelled.status_code == 200
        batch = await p.batch_until(created["id"], {"cancelled"})
        counts = batch["counts"]
        assert counts["cancelled"] > 100 and counts["succeeded"] < 100
        assert counts["succeeded"] + counts["failed"] + counts["cancelled"] == 200


async def test_the_openai_sdk_uploads_creates_polls_and_downloads(unique: str, tmp_path: Path) -> None:
    async with platform("real", unique, tmp_path, concurrency=50) as p:
        batch, rows = await sdk_batch(p, "mock/mock-0ms", N)
        assert batch.status == "completed"
        assert batch.request_counts is not None and batch.request_counts.completed == N
        assert batch.output_file_id
        assert len(rows) == N
        assert all(r["response"]["status_code"] == 200 for r in rows)
        assert rows[0]["response"]["body"]["choices"][0]["message"]["content"]
