"""Limits and revocations across processes, on real Redis.

Two `python index.py api` processes share one requests-per-minute limit: together they
accept one burst plus the steady rate, never one burst each. A key revoked through one API
is refused within one second by a separate API process whose cache would otherwise keep it
for 300 s; both keep their keys in MongoDB (the wire front, tests/mongo_wire).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from config import MongoSettings, Settings
from services.auth.keys import generate_key
from services.limits.model import LimitPolicy
from services.limits.redis_store import RedisPolicyStore
from services.limits.runtime import redis_prefix
from services.stores import create_stores
from tests.backends import context, make_settings, real_only
from tests.e2e.processes import ROOT, env_for, start_worker, stop_all
from tests.mongo_wire import MongoWire

pytestmark = pytest.mark.skipif(not real_only(), reason="needs RabbitMQ and Redis")
LIMIT = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_api(settings: Settings, port: int, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(ROOT / "index.py"), "api"], cwd=ROOT,
                            env=env_for(settings, PORT=str(port), APP_HOST="127.0.0.1", TIMESCALE_SERVICE_URL="",
                                        **extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.asynccontextmanager
async def api_process(settings: Settings, **extra: str) -> AsyncIterator[str]:
    port = _free_port()
    proc = _spawn_api(settings, port, **extra)
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: on the shared 2-core machine under a full test run start-up took > 30 s.
        deadline = time.monotonic() + 180
        async with httpx.AsyncClient(base_url=base) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthcheck")).status_code == 200:
                        break
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the API process did not start within 180 s"
                await asyncio.sleep(0.1)
        yield base
    finally:
        stop_all([proc])


async def seed(settings: Settings, data_dir: Path, policy: LimitPolicy) -> dict[str, str]:
    """A key of org-a saved where the API processes will load it, and the org's policy in
    Redis (as PUT /api/v1/limits/org stores it). Returns the key's Authorization header."""
    stores = create_stores(settings)
    await stores.connect()
    raw, record = generate_key("org-a")
    await stores.keys.add_api_key(record)
    await stores.close()
    assert settings.redis.url
    redis = Redis.from_url(settings.redis.url)
    await RedisPolicyStore(redis, prefix=redis_prefix(settings.redis.key_prefix)).put("org-a", "org", "org-a", policy)
    await redis.aclose()
    return {"Authorization": f"Bearer {raw}"}


async def test_two_api_processes_share_one_limit(tmp_path: Path, unique: str) -> None:
    settings = make_settings("real", unique, tmp_path)
    headers = await seed(settings, tmp_path, LimitPolicy(requests_per_minute=LIMIT))
    body = {"kind": "model", "payload": {"model": "mock-0ms", "messages": [{"role": "user", "content": "hi"}]}}
    async with context(settings) as ctx, api_process(settings) as a, api_process(settings) as b:
        await ctx.broker.declare(["jobs.model"])
        answers: list[tuple[str, httpx.Response]] = []
        started = time.monotonic()

        async def hammer(base: str) -> None:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
                while time.monotonic() - started < 3.0:
                    answers.append((base, await client.post("/api/v1/jobs", json=body)))

        await asyncio.gather(hammer(a), hammer(a), hammer(b), hammer(b))
        elapsed = time.monotonic() - started
    accepted = [(base, r) for base, r in answers if r.status_code == 202]
    limited = [r for _, r in answers if r.status_code == 429]
    assert {r.status_code for _, r in answers} == {202, 429}
    assert {base for base, _ in accepted} == {a, b}
    # One burst of LIMIT, then LIMIT per 60 s: a per-process count would admit ~2 x LIMIT.
    assert LIMIT <= len(accepted) <= LIMIT + elapsed * LIMIT / 60 + 1
    for r in limited:
        assert int(r.headers["Retry-After"]) >= 1
        assert r.headers["RateLimit"].startswith('"org-rpm";r=0;t=')
        assert r.headers["RateLimit-Policy"] == f'"org-rpm";q={LIMIT};w=60'
    assert all("RateLimit" in r.headers for _, r in accepted)


async def test_a_key_revoked_on_one_process_is_refused_by_another_within_one_second(
    tmp_path: Path, unique: str, mongo_wire: MongoWire,
) -> None:
    settings = make_settings("real", unique, tmp_path).model_copy(
        update={"mongo": MongoSettings(url=mongo_wire.url, database=f"aim_test_{unique}")})
    # Only the broadcast can evict a cached key in time: the cache would keep it 300 s.
    settings.governance.key_cache_ttl_s = 300
    async with context(settings) as ctx, api_process(settings, GOVERNANCE_KEY_CACHE_TTL_S="300") as other:
        # Process 1 is this one (its app and key store); process 2 a separate `index.py api`.
        # The keys live in MongoDB, reached by both over TCP.
        app = create_app(settings, ctx=ctx)
        raw_admin, admin = generate_key("org-a", scopes=["admin"])
        raw, victim = generate_key("org-a")
        await ctx.stores.keys.add_api_key(admin)
        await ctx.stores.keys.add_api_key(victim)
        key = {"Authorization": f"Bearer {raw}"}
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://one") as one, \
                httpx.AsyncClient(base_url=other, timeout=5) as two:
            assert (await two.get("/api/v1/jobs", headers=key)).status_code == 200  # now cached there
            started = time.monotonic()
            revoked = await one.delete(f"/api/v1/config/platform-keys/{victim.id}",
                                       headers={"Authorization": f"Bearer {raw_admin}"})
            assert revoked.status_code == 204
            status = 200
            while status != 401 and time.monotonic() - started < 1.0:
                await asyncio.sleep(0.01)  # leave the other process's pub/sub reader some CPU
                status = (await two.get("/api/v1/jobs", headers=key)).status_code
            refused_after_s = time.monotonic() - started
    assert status == 401, f"still {status} on the other process {refused_after_s:.3f} s after the revocation"
    assert refused_after_s < 1.0


async def test_a_worker_process_settles_the_jobs_it_finishes(tmp_path: Path, unique: str) -> None:
    settings = make_settings("real", unique, tmp_path)
    headers = await seed(settings, tmp_path, LimitPolicy(tokens_per_minute=10_000))
    assert settings.redis.url
    redis = Redis.from_url(settings.redis.url)
    prefix = redis_prefix(settings.redis.key_prefix)
    payload: dict[str, Any] = {"model": "mock-0ms", "messages": [{"role": "user", "content": "hi"}]}
    body = {"kind": "model", "payload": payload}
    worker = start_worker(settings, "model", TIMESCALE_SERVICE_URL="")
    try:
        async with context(settings) as ctx, api_process(settings) as api:
            await ctx.broker.declare(["jobs.model"])
            async with httpx.AsyncClient(base_url=api, headers=headers, timeout=30) as client:
                done = await client.post("/api/v1/jobs", json=body, params={"wait": 20})
                assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
                held = f"{prefix}rv:{done.json()['id']}"
                for _ in range(200):
                    if not await redis.exists(held):
                        break
                    await asyncio.sleep(0.05)
                assert not await redis.exists(held)
                after = await client.post("/api/v1/jobs", json={**body, "payload": {**payload, "max_tokens": 1}})
                remaining = int(after.headers["RateLimit"].split("r=")[1].split(";")[0])
                assert remaining > 10_000 - 300  # the first job's ~520-token estimate came back
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        await redis.aclose()
