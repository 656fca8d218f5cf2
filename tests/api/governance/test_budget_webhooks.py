"""`budget.threshold` webhooks: a budget reaching 80% and then 100% of its cap sends one
signed event each to the org's endpoint subscribed to them, however many processes settle
charges at the same moment (two Governors on one Redis, 40 concurrent charges)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from config import GovernanceSettings
from services.limits.checks import Caller, budget_checks
from services.limits.estimate import Estimate
from services.limits.model import LimitPolicy
from services.limits.notify import threshold_webhooks
from services.limits.runtime import build_governor, redis_prefix
from services.limits.service import Governor, Reservation
from tests.api.governance.support import scoped_key
from tests.backends import real_only
from tests.webhook_support import Receiver, webhook_platform

CAP_USD = 1.0


async def _charge(governor: Governor, usd: float) -> None:
    """What a finished job's settlement does: charge its real cost (jobs that cost more than
    estimated take a budget past its cap, hence no admission here)."""
    budgets = budget_checks(Caller("org-a"), [("org", "org-a", LimitPolicy(daily_budget_usd=CAP_USD))], 0)
    await governor.settle(Reservation(org_id="org-a", budgets=budgets), Estimate(10, round(usd * 1_000_000)))


async def test_thresholds_are_sent_once_each_as_signed_webhooks(tmp_path: Path, unique: str) -> None:
    assert real_only(), "needs RabbitMQ and Redis"
    async with Receiver() as rx, webhook_platform("real", unique, tmp_path) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        put = await p.client.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": CAP_USD})
        assert put.status_code == 200, put.text
        budget_hook = await p.create_endpoint(rx.url, event_types=["budget.threshold"])
        async with Receiver() as jobs_only:
            # An endpoint subscribed to other events hears nothing of budgets.
            await p.create_endpoint(jobs_only.url, event_types=["job.succeeded"])
            rx.secrets = [budget_hook["secret"]]
            governor = p.ctx.governance.governor
            assert p.ctx.redis is not None
            # A second process's Governor: its own counters client on the same Redis.
            other = build_governor(GovernanceSettings(), p.ctx.redis,
                                   prefix=redis_prefix(p.ctx.settings.redis.key_prefix), reservation_ttl_s=60)
            other.on_threshold(threshold_webhooks(p.ctx.webhooks))

            await _charge(governor, 0.5)
            await asyncio.sleep(0.5)
            assert rx.received == []  # 50%: below both thresholds
            await _charge(governor, 0.35)  # 85%, on this process's Governor
            await rx.wait_for(1)
            # 40 charges of a cent from two processes at once: 85% -> 125%.
            await asyncio.gather(*[_charge(governor if i % 2 else other, 0.01) for i in range(40)])
            got = await rx.wait_for(2)
            await asyncio.sleep(1.0)  # room for a duplicate to show up
            await _charge(other, 0.1)
            await asyncio.sleep(0.5)
            assert len(rx.received) == 2 and jobs_only.received == []

    events = sorted((orjson.loads(r.body) for r in got), key=lambda e: e["data"]["threshold"])
    assert all(r.verified == [budget_hook["secret"]] for r in got)
    assert [e["type"] for e in events] == ["budget.threshold"] * 2
    assert [e["data"]["threshold"] for e in events] == [0.8, 1.0]
    for event in events:
        data = event["data"]
        assert data["budget"] == {"scope": "org", "id": "org-a", "name": "org-daily-usd"}
        assert data["period"] == "day" and len(data["period_id"]) == 8
        assert data["limit_usd"] == CAP_USD
        assert data["spent_usd"] >= data["threshold"] * CAP_USD
    assert events[0]["data"]["spent_usd"] < CAP_USD
