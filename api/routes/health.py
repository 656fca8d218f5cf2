"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.deps import CtxDep
from api.responses import Json

router = APIRouter(tags=["health"])


class Probe(BaseModel):
    status: str
    latency_ms: float
    error: str | None = None


class Readiness(BaseModel):
    status: str
    dependencies: dict[str, Probe]
CHECK_TIMEOUT_S = 2.0


@router.get("/healthcheck")
async def healthcheck() -> dict[str, str]:
    """Liveness: the process answers. Dependencies are /ready's business."""
    return {"status": "ok"}


async def _check(probe: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
        status, error = "ok", None
    except Exception as exc:
        status, error = "down", f"{type(exc).__name__}: {exc}"[:200]
    out: dict[str, Any] = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if error:
        out["error"] = error
    return out


@router.get("/ready", responses={
    200: {"model": Readiness, "description": "Every dependency answers"},
    503: {"model": Readiness, "description": "A dependency is down, or the process is draining"}})
async def ready(ctx: CtxDep, request: Request) -> Json:
    """Readiness: each dependency with its status and latency; 503 when one is down, and
    while the process drains for shutdown (api/drain.py), so no new request is routed here."""
    if request.app.state.drain.draining:
        return Json({"status": "draining", "dependencies": {}}, status_code=503)
    probes: dict[str, Callable[[], Awaitable[None]]] = {
        "broker": ctx.broker.ping, "job_store": ctx.jobs.ping, "config_store": ctx.stores.ping,
    }
    results = dict(zip(probes, await asyncio.gather(*(_check(p) for p in probes.values())), strict=True))
    ok = all(r["status"] == "ok" for r in results.values())
    return Json({"status": "ok" if ok else "degraded", "dependencies": results},
                          status_code=200 if ok else 503)
