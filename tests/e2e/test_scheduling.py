"""Scheduling end to end on RabbitMQ + Redis: provider capacity shaping against the
simulator's rate limits, fair shares between orgs, priorities within an org."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.providers.simulator.server import RunningSimulator
from tests.platform import Platform, platform

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


async def _finished(p: Platform, ids: list[str], headers: dict[str, str],
                    timeout_s: float = 60) -> list[dict[str, Any]]:
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
    # The provider saw at most R per window plus a small burst (GCRA spaces starts
    # window / R apart; a delay-queue hop that returns a job late costs it its slot rather
    # than bunching it with the next ones). Without shaping it would see all 5R at once.
    if configured:
        assert _max_in_window(received, WINDOW_S) <= R + 3
    else:
        # Unknown at first: the first answers' headers teach the limit.
        later = [t for t in received if t > received[0] + 2 * WINDOW_S]
        assert _max_in_window(later, WINDOW_S) <= R + 3
    # Throughput after the first window, against the allowed R / window: at least 90%.
    # Starts are spaced for 95% of R (SCHEDULING_HEADROOM); what is lost beyond that is a
    # slot per job that came back from a delay queue too late or drew a 429 (bench: 0.94-0.95
    # in both modes). Learnt: the first burst's 429s state the limit, so they block until
    # their retry-after without lowering it.
    steady = [t for t in accepted if t >= accepted[0] + WINDOW_S]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate >= 0.9 * R / WINDOW_S, rate


async def _started_at(p: Platform, ids: list[str], headers: dict[str, str]) -> list[float | None]:
    out = []
    for job_id in ids:
        body = (await p.client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        out.append(body["started_at"])
    return out


async def test_a_small_org_starts_within_the_dispatch_window_of_a_big_backlog(
    unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Org A queues 600 jobs of 50 ms on 5 worker slots (~6 s of work); org B then queues 10.
    With fair shares B's jobs start after at most dispatch_ahead (20) + a few DRR turns of
    A's jobs, i.e. while A still has most of its backlog; in FIFO they would start last."""
    monkeypatch.setenv("SCHEDULING_DISPATCH_AHEAD", "20")
    monkeypatch.setenv("SCHEDULING_DISPATCH_AHEAD_S", "0")  # the fixed window is what is measured
    async with platform("real", unique, tmp_path, concurrency=5) as p:
        a_ids = await _submit_many(p, 600, headers=p.org_a, model="mock-50ms")
        b_submitted = time.time()
        b_ids = await _submit_many(p, 10, headers=p.org_b, model="mock-50ms")
        b_jobs = await _finished(p, b_ids, p.org_b)
        a_started = [t for t in await _started_at(p, a_ids, p.org_a) if t is not None]
        queue = (await p.client.get(f"/api/v1/jobs/{a_ids[-1]}", headers=p.org_a)).json()
    assert [j["status"] for j in b_jobs] == ["succeeded"] * 10
    last_b = max(j["started_at"] for j in b_jobs)
    a_between = sum(1 for t in a_started if b_submitted < t < last_b)
    # A's jobs that started after B arrived and before B's last one: those dispatched or
    # running when B arrived (20 + 5) plus A's DRR turns alongside B's 10. FIFO: ~500.
    assert a_between <= 20 + 5 + 10 + 5, a_between
    # While it waited, A's last job said why and where it stood.
    assert queue["status"] in ("queued", "succeeded")
    if queue["status"] == "queued":
        assert queue["queue"]["reason"] in ("fair_share", "worker")
        assert queue["queue"]["position"] > 0


async def test_high_priority_jobs_overtake_the_orgs_low_priority_backlog(
    unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEDULING_DISPATCH_AHEAD", "10")
    monkeypatch.setenv("SCHEDULING_DISPATCH_AHEAD_S", "0")
    async with platform("real", unique, tmp_path, concurrency=5) as p:
        low = await _submit_many(p, 300, headers=p.org_a, model="mock-50ms", priority="low")
        high_submitted = time.time()
        high = await _submit_many(p, 10, headers=p.org_a, model="mock-50ms", priority="high")
        high_jobs = await _finished(p, high, p.org_a)
        low_started = [t for t in await _started_at(p, low, p.org_a) if t is not None]
    assert [j["status"] for j in high_jobs] == ["succeeded"] * 10
    last_high = max(j["started_at"] for j in high_jobs)
    # Low jobs started after the high ones arrived and before the last high one: at most
    # the dispatched (10) and running (5) ones; without priorities, ~250.
    assert sum(1 for t in low_started if high_submitted < t < last_high) <= 10 + 5 + 5


async def test_a_job_waits_for_capacity_visibly_and_fails_queue_timeout_past_its_max_queue_s(
    sim: RunningSimulator, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-capacity")
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("SCHEDULING_LIMITS", json.dumps({f"openai/{MODEL}": {"rpm": 1}}))
    async with platform("real", unique, tmp_path, concurrency=5) as p:
        def body(max_queue_s: float) -> dict[str, Any]:
            return {"kind": "model", "max_queue_s": max_queue_s, "payload": {
                "provider": "openai", "model": MODEL, "cache": False, "messages": [{"role": "user", "content": "x"}]}}

        first = (await p.client.post("/api/v1/jobs", json=body(30), headers=p.org_a)).json()
        assert (await p.poll(first["id"]))["status"] == "succeeded"
        # One request a minute: the next slot is ~60 s away.
        patient = (await p.client.post("/api/v1/jobs", json=body(600), headers=p.org_a)).json()
        hurried = (await p.client.post("/api/v1/jobs", json=body(5), headers=p.org_a)).json()
        timed_out = await p.poll(hurried["id"])
        assert timed_out["status"] == "failed" and timed_out["error"]["code"] == "queue_timeout"
        assert timed_out["attempts"] == 0
        waiting = (await p.client.get(f"/api/v1/jobs/{patient['id']}", headers=p.org_a)).json()
        assert waiting["status"] == "queued"
        assert waiting["queue"]["reason"] == "capacity"
        assert waiting["queue"]["expected_start_at"] > time.time() + 30
        await p.client.post(f"/api/v1/jobs/{patient['id']}/cancel", headers=p.org_a)


async def test_bad_scheduling_fields_are_refused_naming_the_field(unique: str, tmp_path: Path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        for field, value in (("priority", "urgent"), ("max_queue_s", -1)):
            response = await p.client.post("/api/v1/jobs", json={
                "kind": "model", field: value, "payload": {"model": "mock-0ms",
                                                           "messages": [{"role": "user", "content": "x"}]}},
                headers=p.org_a)
            assert response.status_code == 422
            assert field in response.text
