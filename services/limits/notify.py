"""`budget.threshold` webhooks: the Governor's threshold events delivered, through the
webhook pipeline (signed, retried, recorded), to the org's endpoints subscribed to them.

The Governor announces each 80% / 100% threshold of a budget period once (a marker in the
period's counter, services/limits/redis_lua.py), on whichever process settled the charge.
"""

from __future__ import annotations

from typing import Any

from services.limits.service import BudgetEvent, ThresholdListener
from services.webhooks.dispatch import publish_org_event
from services.webhooks.models import EventType
from services.webhooks.payloads import org_event
from services.webhooks.runtime import Webhooks


def threshold_data(event: BudgetEvent) -> dict[str, Any]:
    """The event's `data`: whose budget, which period, its cap, the spend, the threshold."""
    return {
        "budget": {"scope": event.scope, "id": event.scope_id, "name": event.budget},
        "period": event.period,
        # The period's start as the counter names it: YYYYMMDD (day) or YYYYMM (month).
        "period_id": event.period_key.rsplit(":", 1)[-1],
        "limit_usd": event.cap_usd,
        "spent_usd": event.spent_usd,
        "threshold": event.percent / 100,
    }


def threshold_webhooks(webhooks: Webhooks) -> ThresholdListener:
    """A Governor threshold listener (`Governor.on_threshold`) that sends the webhook."""

    async def send(event: BudgetEvent) -> None:
        await publish_org_event(webhooks, org_event(event.org_id, EventType.BUDGET_THRESHOLD,
                                                    f"{event.period_key}|{event.percent}", threshold_data(event)))

    return send
