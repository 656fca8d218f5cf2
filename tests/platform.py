"""A whole platform in the test process: Context, worker runner and the API app, on the
embedded or the real backends, with an httpx client speaking to the app over ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from services.context import Context
from services.jobs.model import JobStatus
from tests.backends import context, make_settings, new_key
from workers.process import start_runner


@dataclass
class Platform:
    ctx: Context
    client: httpx.AsyncClient
    org_a: dict[str, str]
    org_b: dict[str, str]
    stop_workers: Any = None

    async def submit(self, content: str = "hello", *, headers: dict[str, str] | None = None,
                     model: str = "mock-0ms", wait: float | None = None, **payload: Any) -> httpx.Response:
        body = {"kind": payload.pop("kind", "model"), "payload": {
            "model": model, "messages": [{"role": "user", "content": content}], **payload}}
        params = {"wait": wait} if wait is not None else {}
        return await self.client.post("/api/v1/jobs", json=body, headers=headers or self.org_a,
                                      params=params)

    async def poll(self, job_id: str, *, headers: dict[str, str] | None = None,
                   timeout: float = 20) -> dict[str, Any]:
        """Poll GET until the job is terminal (what an integrator without ?wait does)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(f"/api/v1/jobs/{job_id}", headers=headers or self.org_a)
            body = response.json()
            if JobStatus(body["status"]).terminal or asyncio.get_running_loop().time() > deadline:
                return body
            await asyncio.sleep(0.05)

    async def batch_until(self, batch_id: str, statuses: set[str], timeout_s: float = 120) -> dict[str, Any]:
        """Poll the batch until its status is one of `statuses`."""
        async with asyncio.timeout(timeout_s):
            while True:
                batch = (await self.client.get(f"/api/v1/batches/{batch_id}", headers=self.org_a)).json()
                if batch["status"] in statuses:
                    return dict(batch)
                await asyncio.sleep(0.1)


@asynccontextmanager
async def platform(backend: str, unique: str, data_dir: Path, *, workers: bool = True,
                   pools: list[str] | None = None, **jobs: Any) -> AsyncIterator[Platform]:
    settings = make_settings(backend, unique, data_dir, **jobs)
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model", "jobs.chatbot", "jobs.rag"])
        stop = (await start_runner(ctx, pools or ["model", "chatbot"])).stop if workers else None
        app = create_app(settings, ctx=ctx)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            p = Platform(ctx, client, await new_key(ctx, "org-a"), await new_key(ctx, "org-b"), stop)
            try:
                yield p
            finally:
                if stop is not None:
                    await stop()
