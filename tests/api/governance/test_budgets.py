"""USD budgets: reserved atomically on submit (100 concurrent submits against a budget
that fits 10), charged with the real cost when the job finishes, thresholds announced."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from services.limits.estimate import estimate
from services.limits.service import BudgetEvent, Governor
from tests.api.governance.support import scoped_key
from tests.platform import platform

PAYLOAD = {"provider": "openai", "model": "gpt-5-mini", "max_tokens": 1000,
           "messages": [{"role": "user", "content": "summarise the quarterly report"}]}


async def test_concurrent_submits_never_overshoot_the_budget(tmp_path: Path, unique: str) -> None:
    async with platform("real", unique, tmp_path, workers=False) as p:
        governor: Governor = p.client._transport.app.state.governor  # type: ignore[attr-defined]
        events: list[BudgetEvent] = []

        async def keep(event: BudgetEvent) -> None:
            events.append(event)

        governor.on_threshold(keep)
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        guess = estimate(PAYLOAD, default_output_tokens=512).cost_micros
        assert guess > 0
        cap_usd = guess * 10.5 / 1_000_000
        put = await p.client.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": cap_usd})
        assert put.status_code == 200

        answers = await asyncio.gather(*[
            p.client.post("/api/v1/jobs", headers=p.org_a, json={"kind": "model", "payload": PAYLOAD})
            for _ in range(100)])
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] * 10 + [402] * 90
        refused = next(a for a in answers if a.status_code == 402).json()["error"]
        assert refused["code"] == "budget_exceeded" and refused["budget"] == "org-daily-usd"

        shown = (await p.client.get("/api/v1/limits/org", headers=admin)).json()["budgets"][0]
        assert shown["spent_usd"] == 0 and abs(shown["reserved_usd"] - guess * 10 / 1e6) < 1e-9

        # Each job finishes costing 20% more than estimated: what is charged is what was used.
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        used: dict[str, Any] = {"usage": {"input_tokens": 10, "output_tokens": 10},
                                "cost_usd": guess * 1.2 / 1e6, "limits_reserved": True}
        await asyncio.gather(*[governor.settle_job(job_id, used) for job_id in accepted])
        await asyncio.gather(*[governor.settle_job(job_id, used) for job_id in accepted])  # redelivered: no-op
        shown = (await p.client.get("/api/v1/limits/org", headers=admin)).json()["budgets"][0]
        assert shown["reserved_usd"] == 0
        # Over the cap by at most what was in flight when it filled (10 jobs x 20%).
        assert cap_usd < shown["spent_usd"] <= guess * 12 / 1e6 + 1e-9
        assert sorted(e.percent for e in events) == [80, 100]
        assert all(e.org_id == "org-a" and e.budget == "org-daily-usd" for e in events)

        again = await p.client.post("/api/v1/jobs", headers=p.org_a, json={"kind": "model", "payload": PAYLOAD})
        assert again.status_code == 402


async def test_a_finished_job_gives_back_its_unused_token_estimate(tmp_path: Path, unique: str) -> None:
    async with platform("real", unique, tmp_path) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        await p.client.put("/api/v1/limits/org", headers=admin, json={"tokens_per_minute": 10_000})
        first = await p.submit("hello", wait=10)
        assert first.status_code == 200 and first.json()["meta"]["limits_reserved"] is True
        # The job listener settles after the result is visible: wait for the reservation to go.
        held = f"{p.ctx.settings.redis.key_prefix}gov:rv:{first.json()['id']}"
        assert p.ctx.redis is not None
        for _ in range(200):
            if not await p.ctx.redis.exists(held):
                break
            await asyncio.sleep(0.05)
        second = await p.submit("hello", max_tokens=1)
        remaining = int(second.headers["RateLimit"].split("r=")[1].split(";")[0])
        # Without the refund ~530 estimated tokens of the first job would still be held.
        assert remaining > 10_000 - 300
