"""Helpers for governance tests: keys with chosen scopes, the app with workers and the
provider simulator, bridges, polling a job to its end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from services.context import Context
from services.providers.simulator.server import RunningSimulator
from tests.backends import context, new_key
from tests.chat_support import chat_settings
from workers.process import start_runner


async def scoped_key(ctx: Context, org: str, scopes: list[str] | None = None,
                     expires_at: float | None = None) -> tuple[dict[str, str], str]:
    """(Authorization header, key id) of a new key of `org` holding `scopes`."""
    raw, record = await ctx.keys.create(org, "test", scopes=scopes, expires_at=expires_at)
    return {"Authorization": f"Bearer {raw}"}, record.id


@asynccontextmanager
async def served_with_sim(
    sim: RunningSimulator, unique: str, tmp_path: Path, *, pools: tuple[str, ...] = ("model", "chatbot"),
) -> AsyncIterator[tuple[Context, httpx.AsyncClient, dict[str, str]]]:
    """The app over ASGI on the real backends with workers, every provider answered by the
    simulator: (context, client, org-a key)."""
    settings = chat_settings("real", unique, tmp_path, sim_url=sim.url,
                             resilience={"retry_attempts": 2}, jobs={"max_attempts": 1})
    async with context(settings) as ctx:
        await ctx.credentials.put("org-a", "openai", "sk-org-a-openai-key-5150")
        await ctx.broker.declare(["jobs.model", "jobs.chatbot"])
        stop = (await start_runner(ctx, list(pools))).stop
        app = create_app(settings, ctx=ctx)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         timeout=30) as client:
                yield ctx, client, await new_key(ctx, "org-a")
        finally:
            await stop()


async def create_bridge(client: httpx.AsyncClient, key: dict[str, str], **fields: Any) -> str:
    body = {"name": "Guarded", "provider": "openai", "model": "gpt-4o-mini", **fields}
    created = await client.post("/api/v1/config/bridges", headers=key, json=body)
    assert created.status_code == 201, created.text
    bridge_id: str = created.json()["id"]
    return bridge_id


async def finished(client: httpx.AsyncClient, key: dict[str, str], job_id: str, within_s: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        body = (await client.get(f"/api/v1/jobs/{job_id}", headers=key)).json()
        if body["status"] in ("succeeded", "failed", "cancelled") or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.05)
