"""In-flight inline runs over HTTP: 429 past a key's concurrency, 503 + Retry-After past
the process's own maximum."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from api.app import create_app
from tests.api.governance.support import scoped_key
from tests.backends import context, make_settings


async def test_inline_runs_past_the_key_and_process_limits(tmp_path: Path, unique: str) -> None:
    settings = make_settings("embedded", unique, tmp_path)
    settings.governance.process_max_inline = 2
    async with context(settings) as ctx:
        app = create_app(settings, ctx=ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     timeout=30) as client:
            admin, _ = await scoped_key(ctx, "org-a", ["admin"])
            slow, slow_id = await scoped_key(ctx, "org-a", ["jobs:write"])
            other, _ = await scoped_key(ctx, "org-a", ["jobs:write"])
            await client.put(f"/api/v1/limits/keys/{slow_id}", headers=admin, json={"concurrency": 1})
            bridge = (await client.post("/api/v1/config/bridges", headers=admin,
                                        json={"name": "Slow", "model": "mock-250ms"})).json()

            async def run(key: dict[str, str]) -> httpx.Response:
                return await client.post("/api/v2/model/chat/completion", headers=key,
                                         json={"bridge_id": bridge["id"], "user": "hi"})

            per_key = await asyncio.gather(run(slow), run(slow))
            assert sorted(r.status_code for r in per_key) == [200, 429]
            assert next(r for r in per_key if r.status_code == 429).json()["error"]["limit"] == "key-concurrency"

            full = await asyncio.gather(run(other), run(other), run(other))
            assert sorted(r.status_code for r in full) == [200, 200, 503]
            refused = next(r for r in full if r.status_code == 503)
            assert refused.headers["Retry-After"] == "1" and refused.json()["error"]["code"] == "overloaded"
