"""Scheduling figures: provider capacity shaping efficiency, and fair shares against FIFO.

    source /tmp/svc.env && PYTHONPATH=. .venv/bin/python bench/scheduling.py --rate 30 --window 2 \
        --big 2000 --small 10

Shaping: the simulator limits one model to R requests per window; 5R jobs are submitted at
once (real RabbitMQ + Redis, worker concurrency 50); we report the requests the provider
received in its busiest window, how many it refused (429), and the achieved rate after
the first window over the allowed R / window. Fairness: org A submits `--big` jobs of a
50 ms mock model (worker concurrency 10), then org B `--small`; we report how long B's last
job waited to start and how many of A's jobs started in between, with fair shares on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from services.providers.simulator.server import start_simulator_thread
from tests.platform import Platform, platform

MODEL = "gpt-4o-mini"


async def submit(p: Platform, n: int, headers: dict[str, str], *, provider: str, model: str) -> list[str]:
    async def one(i: int) -> str:
        body = {"kind": "model", "payload": {"provider": provider, "model": model, "cache": False,
                                             "messages": [{"role": "user", "content": f"job {i}"}]}}
        return str((await p.client.post("/api/v1/jobs", json=body, headers=headers)).json()["id"])

    ids: list[str] = []
    for start in range(0, n, 100):
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))
    return ids


async def jobs(p: Platform, ids: list[str], headers: dict[str, str]) -> list[dict[str, Any]]:
    return [await p.poll(i, headers=headers, timeout=600) for i in ids]


def busiest(times: list[float], window_s: float) -> int:
    times, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def shaping(rate: int, window_s: float, configured: bool) -> dict[str, Any]:
    sim = start_simulator_thread()
    os.environ.update({"PROVIDERS_SIMULATOR_URL": sim.url, "OPENAI_API_KEY": "sk-bench",
                       "SCHEDULING_WINDOW_S": str(window_s)})
    if configured:
        os.environ["SCHEDULING_LIMITS"] = json.dumps({f"openai/{MODEL}": {"rpm": rate}})
    else:
        os.environ.pop("SCHEDULING_LIMITS", None)
    try:
        async with httpx.AsyncClient(base_url=sim.url) as c:
            await c.post("/_sim/ratelimits", json={"window_s": window_s, "models": {MODEL: rate}})
        with tempfile.TemporaryDirectory() as tmp:
            async with platform("real", uuid.uuid4().hex[:10], Path(tmp), concurrency=50) as p:
                ids = await submit(p, 5 * rate, p.org_a, provider="openai", model=MODEL)
                done = await jobs(p, ids, p.org_a)
        async with httpx.AsyncClient(base_url=sim.url) as c:
            seen = (await c.get("/_sim/ratelimits")).json()["models"][MODEL]
    finally:
        sim.stop_blocking()
    accepted = sorted(seen["accepted"])
    steady = [t for t in accepted if t >= accepted[0] + window_s]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0])
    return {"mode": "configured" if configured else "learnt", "jobs": len(ids),
            "succeeded": sum(j["status"] == "succeeded" for j in done),
            "max_attempts": max(j["attempts"] for j in done), "refused_429": seen["rejected"],
            "busiest_window_received": busiest(seen["received"], window_s),
            "busiest_window_after_2": busiest([t for t in seen["received"]
                                               if t > seen["received"][0] + 2 * window_s], window_s),
            "allowed_per_window": rate, "efficiency": round(achieved / (rate / window_s), 3)}


async def fairness(big: int, small: int, fair: bool) -> dict[str, Any]:
    os.environ["SCHEDULING_FAIR_SHARE"] = "true" if fair else "false"
    os.environ["SCHEDULING_DISPATCH_AHEAD"] = "50"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with platform("real", uuid.uuid4().hex[:10], Path(tmp), concurrency=10) as p:
                a_ids = await submit(p, big, p.org_a, provider="mock", model="mock-50ms")
                b_at = time.time()
                b_ids = await submit(p, small, p.org_b, provider="mock", model="mock-50ms")
                b_jobs = await jobs(p, b_ids, p.org_b)
                a_jobs = await jobs(p, a_ids, p.org_a)
    finally:
        os.environ.pop("SCHEDULING_FAIR_SHARE", None)
    last_b = max(j["started_at"] for j in b_jobs)
    return {"fair_share": fair, "a_jobs": big, "b_jobs": small,
            "b_last_start_wait_s": round(last_b - b_at, 3),
            "a_started_meanwhile": sum(1 for j in a_jobs if b_at < j["started_at"] < last_b),
            "a_backlog_at_b_submit": sum(1 for j in a_jobs if j["started_at"] > b_at)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=30)
    parser.add_argument("--window", type=float, default=2.0)
    parser.add_argument("--big", type=int, default=2000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--only", choices=["shaping", "fairness"], default=None)
    args = parser.parse_args()
    if args.only in (None, "shaping"):
        for configured in (True, False):
            print(json.dumps(await shaping(args.rate, args.window, configured)), flush=True)
    if args.only in (None, "fairness"):
        for fair in (True, False):
            print(json.dumps(await fairness(args.big, args.small, fair)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
