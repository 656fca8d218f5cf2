"""Usage analytics: requests, errors, tokens, cost, latency and cache hits per group."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CtxDep, OrgDep
from api.responses import Json
from services.metrics.usage import usage_report

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])
From = Annotated[str | None, Query(alias="from", description="inclusive; default: to - 30 days")]
To = Annotated[str | None, Query(alias="to", description="exclusive; default: now")]
GroupByQuery = Annotated[
    str | None, Query(description="day (default), hour, bridge, model or provider"),
]


@router.get("")
async def get_usage(
    ctx: CtxDep, org_id: OrgDep,
    start: From = None, end: To = None, group_by: GroupByQuery = None,
) -> Json:
    """The caller's org usage over [from, to), one entry per group plus the totals."""
    report = await usage_report(ctx.metrics.sink, org_id, start=start, end=end, group_by=group_by)
    return Json(report.model_dump(mode="json", by_alias=True))
