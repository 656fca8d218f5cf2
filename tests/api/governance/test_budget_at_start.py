"""Queued jobs re-check their budgets when a worker picks them up: jobs that fitted at
submit but no longer fit (the budget was spent meanwhile) fail with `budget_exceeded`
before any provider call, and are reported like any failed job (job.failed webhook)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from api.app import create_app
from config import WebhookSettings
from services.limits.checks import Caller, budget_checks
from services.limits.estimate import Estimate, estimate
from services.limits.model import LimitPolicy
from services.limits.service import Reservation
from services.providers.simulator.server import RunningSimulator
from tests.api.governance.support import finished, scoped_key
from tests.backends import context, new_key
from tests.chat_support import chat_settings
from tests.sim_fixtures import sim, sim_server  # noqa: F401
from tests.webhook_support import Receiver
from workers.process import start_runner

PAYLOAD = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 50}


async def test_queued_jobs_that_no_longer_fit_fail_at_start_without_a_provider_call(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    assert sim.state is not None
    settings = chat_settings("real", unique, tmp_path, sim_url=sim.url)
    settings.webhooks = WebhookSettings(retry_schedule_s=[0.0], allow_cidrs=["127.0.0.1/32"])
    async with Receiver() as rx, context(settings) as ctx:
        await ctx.credentials.put("org-a", "openai", "sk-org-a-openai-key-5150")
        await ctx.broker.declare(["jobs.model"])
        app = create_app(settings, ctx=ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            key, admin = await new_key(ctx, "org-a"), (await scoped_key(ctx, "org-a", ["admin"]))[0]
            bodies = [{**PAYLOAD, "messages": [{"role": "user", "content": f"queued job {i}"}],
                       "webhook": {"url": rx.url}} for i in range(3)]
            guess = max(estimate(b, default_output_tokens=512).cost_micros for b in bodies)
            cap_usd = guess * 3.5 / 1e6
            put = await client.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": cap_usd})
            assert put.status_code == 200, put.text
            # No worker yet: the three jobs fit the budget and wait in the queue.
            submitted = [await client.post("/api/v1/jobs", headers=key, json={"kind": "model", "payload": b})
                         for b in bodies]
            assert [s.status_code for s in submitted] == [202] * 3, submitted[-1].text

            # Meanwhile other work spends the budget to its cap (what a finished job's
            # settlement charges).
            budgets = budget_checks(Caller("org-a"), [("org", "org-a", LimitPolicy(daily_budget_usd=cap_usd))], 0)
            await ctx.governance.governor.settle(Reservation(org_id="org-a", budgets=budgets),
                                                 Estimate(0, round(cap_usd * 1e6)))

            stop = (await start_runner(ctx, ["model", "webhooks"])).stop
            try:
                jobs = [await finished(client, key, s.json()["id"]) for s in submitted]
                events = await rx.wait_for(3)
            finally:
                await stop()
    assert [j["status"] for j in jobs] == ["failed"] * 3
    assert {j["error"]["code"] for j in jobs} == {"budget_exceeded"}
    assert all(j["attempts"] == 0 and j["started_at"] is None for j in jobs)
    assert sim.state.received.get("gpt-4o-mini") is None  # the provider never heard of them
    failed = [orjson.loads(e.body) for e in events]
    assert sorted(e["data"]["job"]["id"] for e in failed) == sorted(j["id"] for j in jobs)
    assert {e["type"] for e in failed} == {"job.failed"}


async def test_queued_jobs_that_still_fit_run(sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
                                              ) -> None:
    settings = chat_settings("real", unique, tmp_path, sim_url=sim.url)
    async with context(settings) as ctx:
        await ctx.credentials.put("org-a", "openai", "sk-org-a-openai-key-5150")
        await ctx.broker.declare(["jobs.model"])
        app = create_app(settings, ctx=ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            key, admin = await new_key(ctx, "org-a"), (await scoped_key(ctx, "org-a", ["admin"]))[0]
            await client.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": 10.0})
            body = {**PAYLOAD, "messages": [{"role": "user", "content": "fits"}]}
            submitted = await client.post("/api/v1/jobs", headers=key, json={"kind": "model", "payload": body})
            assert submitted.status_code == 202, submitted.text
            await asyncio.sleep(0.2)
            stop = (await start_runner(ctx, ["model"])).stop
            try:
                job = await finished(client, key, submitted.json()["id"])
            finally:
                await stop()
    assert job["status"] == "succeeded", job
