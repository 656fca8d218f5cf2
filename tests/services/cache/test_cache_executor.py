"""The response cache in the executor, counted at the provider simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.errors import Retryable
from services.observability.prom import CACHE
from services.providers.simulator.server import RunningSimulator
from tests.chat_support import chat_context, chat_settings, execute_chat, payload, upstream_calls


def _cache_count(result: str) -> float:
    return float(CACHE.labels(result)._value.get())


@pytest.mark.parametrize("backend", ["embedded", "real"])
async def test_100_concurrent_identical_requests_make_one_upstream_call(
    sim: RunningSimulator, unique: str, tmp_path: Path, backend: str
) -> None:
    model = f"sim-50ms-{unique}"  # slow enough that all 100 overlap
    settings = chat_settings(backend, unique, tmp_path, sim_url=sim.url)
    hits_before = _cache_count("hit")
    async with chat_context(settings) as ctx:
        results = await asyncio.gather(*(
            execute_chat(ctx, payload("same question", model=model), org_id="org-a")
            for _ in range(100)))
    assert await upstream_calls(sim, model) == 1
    assert sorted(r["cache"] for r in results) == ["hit"] * 99 + ["miss"]
    assert {r["content"] for r in results} == {"sim: same question"}
    assert _cache_count("hit") - hits_before == 99
    leader = next(r for r in results if r["cache"] == "miss")
    assert [a["outcome"] for a in leader["attempts"]] == ["ok"]
    assert all(r["attempts"] == [] and r["cost_usd"] == 0 for r in results if r["cache"] == "hit")


@pytest.mark.redis
async def test_two_processes_share_one_upstream_call(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-50ms-{unique}"
    settings = chat_settings("real", unique, tmp_path, sim_url=sim.url)
    # Two Contexts = two processes' runtimes (own LRU, own in-flight map) on one Redis.
    async with chat_context(settings) as one, chat_context(settings) as two:
        results = await asyncio.gather(*(
            execute_chat(ctx, payload("shared", model=model), org_id="org-a")
            for ctx in (one, two) for _ in range(50)))
        assert await upstream_calls(sim, model) == 1
        assert [r["cache"] for r in results].count("miss") == 1
        # A later request in either process is a hit from its LRU or from Redis.
        again = await execute_chat(two, payload("shared", model=model), org_id="org-a")
    assert again["cache"] == "hit"
    assert await upstream_calls(sim, model) == 1


async def test_cache_bypass(sim: RunningSimulator, unique: str, tmp_path: Path) -> None:
    model = f"bypass-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        for body in (payload(model=model, cache=False),
                     payload(model=model, temperature=0.9),
                     payload(model=model, metadata={"deterministic": False})):
            first = await execute_chat(ctx, body, org_id="org-a")
            second = await execute_chat(ctx, body, org_id="org-a")
            assert (first["cache"], second["cache"]) == ("bypass", "bypass")
        assert await upstream_calls(sim, model) == 6
        # The same request without the opt-out is cached: one more call, then a hit.
        cached = [await execute_chat(ctx, payload(model=model), org_id="org-a") for _ in range(2)]
    assert [r["cache"] for r in cached] == ["miss", "hit"]
    assert await upstream_calls(sim, model) == 7


async def test_errors_are_not_cached_and_orgs_do_not_share(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-failfirst-1-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url,
                             resilience={"retry_attempts": 1})
    async with chat_context(settings) as ctx:
        with pytest.raises(Retryable) as caught:
            await execute_chat(ctx, payload(model=model), org_id="org-a")
        assert caught.value.code == "provider_unavailable"
        ok = await execute_chat(ctx, payload(model=model), org_id="org-a")
        other_org = await execute_chat(ctx, payload(model=model), org_id="org-b")
    assert (ok["cache"], other_org["cache"]) == ("miss", "miss")
    assert await upstream_calls(sim, model) == 3
