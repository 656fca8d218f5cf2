"""Batches routed to the providers' own batch APIs (OpenAI Batch, Anthropic Message Batches)
on RabbitMQ + Redis, against the simulator over HTTP: the batch endpoints do the work, the
results map back per custom_id in the usual format at the batch price, cancel reaches the
provider, and a short completion window stays on jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from services.providers.batch_api import BATCH_DISCOUNT
from services.providers.pricing import cost_usd
from services.providers.simulator.server import RunningSimulator
from services.providers.types import Usage
from tests.e2e.batch_support import sdk_batch
from tests.platform import platform

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


@pytest.fixture
def providers_on_sim(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batches")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-batches")
    monkeypatch.setenv("SCHEDULING_BATCH_POLL_S", "0.1")
    return sim


def _requests(provider: str, n: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"{provider}-{i}", "payload": {
        "provider": provider, "model": MODELS[provider], "cache": False,
        "messages": [{"role": "user", "content": f"line {i}"}]}} for i in range(n)]


async def _sim(sim: RunningSimulator, path: str) -> Any:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        return (await c.get(path)).json()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_24h_batch_goes_to_the_providers_batch_api_and_maps_back_per_custom_id(
    provider: str, providers_on_sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    async with platform("real", unique, tmp_path, pools=["model", "metrics"]) as p:
        created = await p.client.post("/api/v1/batches", json={"requests": _requests(provider, 5)}, headers=p.org_a)
        assert created.status_code == 201, created.text
        batch = await p.batch_until(created.json()["id"], {"completed"})
        assert batch["counts"]["succeeded"] == 5 and batch["provider_requests"] == 5
        results = await p.client.get(f"/api/v1/batches/{batch['id']}/results", headers=p.org_a)
        lines = {row["custom_id"]: row for row in map(orjson.loads, results.content.splitlines())}
        assert set(lines) == {f"{provider}-{i}" for i in range(5)}
        row = lines[f"{provider}-3"]
        assert row["status"] == "succeeded" and row["result"]["content"] == "sim: line 3"
        job = (await p.client.get(f"/api/v1/jobs/{row['job_id']}", headers=p.org_a)).json()
        # One metrics row per request, as for a job-routed batch, at the batch price.
        sink: Any = p.ctx.metrics.sink
        async with asyncio.timeout(30):
            while {r.job_id for r in sink.rows()} < {r["job_id"] for r in lines.values()}:
                await asyncio.sleep(0.1)
        metric = next(r for r in sink.rows() if r.job_id == row["job_id"])
    usage = Usage.model_validate(row["result"]["usage"])
    price = cost_usd(provider, MODELS[provider], usage) * BATCH_DISCOUNT
    assert job["meta"]["routing"] == "provider" and job["meta"]["provider_batch_id"]
    assert job["meta"]["cost_usd"] == pytest.approx(price) and metric.cost_usd == pytest.approx(price)
    # One provider batch of 5 requests did the work, not one chat call per line.
    batches = await _sim(providers_on_sim, "/_sim/batches")
    assert [(b["provider"], b["requests"], b["status"]) for b in batches] == [(provider, 5, "completed")]
    routes = (await _sim(providers_on_sim, "/_sim/stats"))["by_route"]
    assert not any(r.endswith(("/chat/completions", "/v1/messages")) for r in routes), routes


async def test_the_openai_sdk_batch_of_anthropic_requests_is_routed_to_message_batches(
    providers_on_sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    async with platform("real", unique, tmp_path) as p:
        batch, output = await sdk_batch(p, f"anthropic/{MODELS['anthropic']}", 3, timeout_s=30)
        assert batch.status == "completed" and batch.output_file_id
        rows = {r["custom_id"]: r for r in output}
    assert rows["q2"]["response"]["body"]["choices"][0]["message"]["content"] == "sim: hi 2"
    assert [b["provider"] for b in await _sim(providers_on_sim, "/_sim/batches")] == ["anthropic"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_cancel_reaches_the_provider_batch(
    provider: str, providers_on_sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    async with httpx.AsyncClient(base_url=providers_on_sim.url) as c:
        await c.post("/_sim/batches", json={"complete_after_s": 300})
    async with platform("real", unique, tmp_path) as p:
        created = (await p.client.post("/api/v1/batches", json={"requests": _requests(provider, 4)},
                                       headers=p.org_a)).json()
        async with asyncio.timeout(30):  # the ASGI client has no timeout of its own
            cancelled = await p.client.post(f"/api/v1/batches/{created['id']}/cancel", headers=p.org_a)
        assert cancelled.status_code == 200
        batch = await p.batch_until(created["id"], {"cancelled"})
        assert batch["counts"]["cancelled"] == 4
        [remote] = await _sim(providers_on_sim, "/_sim/batches")
        assert remote["status"] == "cancelled"
        # The provider's cancelled lines arrive after the jobs were cancelled: nothing changes.
        await asyncio.sleep(0.5)
        assert (await p.batch_until(created["id"], {"cancelled"}))["counts"]["cancelled"] == 4


async def test_a_short_completion_window_stays_on_jobs_and_provider_routing_refuses_it(
    providers_on_sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    async with platform("real", unique, tmp_path) as p:
        created = await p.client.post("/api/v1/batches", json={"requests": _requests("openai", 3),
                                                               "completion_window": "1h"}, headers=p.org_a)
        assert created.status_code == 201 and created.json()["provider_requests"] == 0
        assert (await p.batch_until(created.json()["id"], {"completed"}))["counts"]["succeeded"] == 3
        refused = await p.client.post("/api/v1/batches", json={
            "requests": _requests("openai", 2), "completion_window": "1h", "routing": "provider"}, headers=p.org_a)
        assert refused.status_code == 422 and "requests[0].payload" in refused.text
    assert await _sim(providers_on_sim, "/_sim/batches") == []
    assert (await _sim(providers_on_sim, "/_sim/stats"))["by_route"].get("/openai/v1/chat/completions") == 3


async def test_a_provider_batch_submitted_before_a_restart_is_polled_by_the_next_worker(
    providers_on_sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    # The first process submits and goes away before any poll (no worker ran in it).
    async with platform("real", unique, tmp_path, workers=False) as p:
        created = (await p.client.post("/api/v1/batches", json={"requests": _requests("openai", 3)},
                                       headers=p.org_a)).json()
    # A new process (same Redis; a new key of the same org) finds the provider batch in the
    # store and finishes it.
    async with platform("real", unique, tmp_path) as p:
        batch = await p.batch_until(created["id"], {"completed"})
    assert batch["counts"]["succeeded"] == 3
