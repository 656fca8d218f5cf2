"""GET /metrics: this process's Prometheus metrics (text exposition format)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from services.observability.exposition import render_metrics

router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
