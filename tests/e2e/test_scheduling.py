"""Scheduling end to end on RabbitMQ + Redis: provider capacity shaping against the
simulator's rate limits, fair shares between orgs, priorities within an org."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.providers.simulator.server import RunningSimulator
from tests.platform import Platform, platform
from tests.sim_fixtures import sim, sim_server  # noqa: F401

WINDOW_S = 2.0
R = 20
MODEL = "gpt-4o-mini"


async def _submit_many(p: Platform, n: int, *, headers: dict[str, str], model: str,
                       provider: str = "mock", priority: str = "normal") -> list[str]:
    async def one(i: int) -> str:
        body = {"kind": "model", "priority": priority, "payload": {
            "provider": provider, "model": model, "cache": False,
            "messages": [{"role": "user", "content": f"job {i}"}]}}
        response = await p.client.post("/api/v1/jobs", json=body, headers=headers)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    ids: list[str] = []
    for start in range(0, n, 50):
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return ids


async def _finished(p: Platform, ids: list[str], headers: dict[str, str], timeout_s: float = 60) -> list[dict[str, Any]]:
    return [await p.poll(i, headers=headers, timeout=timeout_s) for i in ids]


def _max_in_window(times: list[float], window_s: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.mark.parametrize("configured", [True, False], ids=["configured-limit", "learnt-from-headers"])
async def test_five_times_the_rate_limit_all_succeed_paced_to_the_limit(
    configured: bool, sim: RunningSimulator, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-capacity")
    async with httpx.AsyncClient(base_url=sim.url) as c:
        await c.post("/_sim/ratelimits", json={"window_s": WINDOW_S, "models": {MODEL: R}})
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("SCHEDULING_WINDOW_S", str(WINDOW_S))
    if configured:
        monkeypatch.setenv("SCHEDULING_LIMITS", json.dumps({f"openai/{MODEL}": {"rpm": R}}))
    async with platform("real", unique, tmp_path, concurrency=50) as p:
        ids = await _submit_many(p, 5 * R, headers=p.org_a, model=MODEL, provider="openai")
        jobs = await _finished(p, ids, p.org_a)
    async with httpx.AsyncClient(base_url=sim.url) as c:
        seen = (await c.get("/_sim/ratelimits")).json()["models"][MODEL]
    failures = {j["error"]["code"] for j in jobs if j["status"] != "succeeded"}
    assert not failures, (failures, seen["rejected"])
    # A 429 gives its attempt back: every job ran on its first counted attempt.
    assert {j["attempts"] for j in jobs} == {1}
    accepted = sorted(seen["accepted"])
    assert len(accepted) == 5 * R
    received = seen["received"]
    # Shaped: without it the provider would see all 5R requests (and their retries) in the
    # first window. Measured pacing is looser than GCRA's R + 1 (delay-queue return jitter
    # bunches starts; bench/RESULTS.md), so the bound asserted here is 2R per window.
    if configured:
        assert _max_in_window(received, WINDOW_S) <= 2 * R
    else:
        later = [t for t in received if t > received[0] + 2 * WINDOW_S]
        assert _max_in_window(later, WINDOW_S) <= 2 * R
