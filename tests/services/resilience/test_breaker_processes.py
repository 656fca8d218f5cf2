"""The circuit is shared through Redis by separate worker processes: failures seen by one
open it for the other, and after the cool-down a probe from either closes it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.providers.simulator.server import RunningSimulator
from services.resilience.breaker import CLOSED, HALF_OPEN, OPEN, BreakerConfig
from services.resilience.breaker_redis import RedisBreakerStore
from tests.chat_support import upstream_calls

REPO = Path(__file__).resolve().parents[3]
COOLDOWN_S = 3.0
pytestmark = pytest.mark.redis


class WorkerProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, env: dict[str, str]) -> WorkerProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.services.resilience.breaker_proc", cwd=REPO, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        worker = cls(proc)
        assert "ready" in await worker._line()
        return worker

    async def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        assert raw, "worker process exited"
        return json.loads(raw)  # type: ignore[no-any-return]

    async def call(self, n: int) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"call {n}\n".encode())
        await self.proc.stdin.drain()
        outcomes: list[str] = (await self._line())["outcomes"]
        return outcomes

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()


async def test_breaker_is_shared_by_two_worker_processes(
    sim: RunningSimulator, redis_url: str, unique: str, tmp_path: Path
) -> None:
    model = f"shared-{unique}"
    prefix = f"t{unique}:"
    env = {k: v for k, v in os.environ.items() if k not in (
        "QUEUE_CONNECTIONURL", "TIMESCALE_SERVICE_URL", "MONGODB_CONNECTION_URI")}
    env.update({
        "REDIS_URI": redis_url, "REDIS_KEY_PREFIX": prefix, "APP_ENVIRONMENT": "test",
        "APP_DATA_DIR": str(tmp_path), "PROVIDERS_SIMULATOR_URL": sim.url,
        "RESILIENCE_RETRY_ATTEMPTS": "1", "RESILIENCE_BREAKER_FAILURES": "3",
        "RESILIENCE_BREAKER_COOLDOWN_S": str(COOLDOWN_S), "RESILIENCE_BREAKER_SUCCESSES": "1",
        "TEST_MODEL": model,
    })
    await sim.configure({"models": {model: {"status": 503}}})
    a, b = await asyncio.gather(WorkerProcess.start(env), WorkerProcess.start(env))
    client = Redis.from_url(redis_url)
    store = RedisBreakerStore(client, prefix=prefix + "breaker:")
    config = BreakerConfig(failures=3, cooldown_s=COOLDOWN_S, successes=1)
    key = f"openai:{model}"
    try:
        # Process A sees three failures: the circuit opens.
        assert await a.call(3) == ["provider_unavailable"] * 3
        assert await upstream_calls(sim, model) == 3
        # Process B never saw a failure, yet fails fast without calling the provider.
        assert await b.call(2) == ["circuit_open"] * 2
        assert await upstream_calls(sim, model) == 3
        assert await store.state(key, _now(), config) == OPEN
        # After the cool-down the circuit is half-open; the provider has recovered.
        await sim.configure({})
        await asyncio.sleep(COOLDOWN_S)
        assert await store.state(key, _now(), config) == HALF_OPEN
        # B's probe passes and closes the circuit for A too.
        assert await b.call(1) == ["ok"]
        assert await store.state(key, _now(), config) == CLOSED
        assert await a.call(1) == ["ok"]
        assert await upstream_calls(sim, model) == 5
    finally:
        await asyncio.gather(a.stop(), b.stop())
        await client.delete(prefix + "breaker:" + key)
        await client.aclose()


def _now() -> float:
    return time.time()
