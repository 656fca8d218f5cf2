"""Jobs through the whole pipeline: throughput at 0 ms, in-flight capacity at 1 s.

    PYTHONPATH=. .venv/bin/python bench/e2e.py [--seconds 10] [--capacity 6000]

1. Throughput: one API process and one worker process on real RabbitMQ and Redis; wrk
   submits jobs for the mock provider at 0 ms latency while a Redis subscriber counts
   completions. Completed jobs/s = completions / time from first submit to last completion.
2. Capacity: N jobs at 1 s mock latency are queued, then one worker process (concurrency
   N) starts. The peak number of jobs running at once comes from the records' started_at and
   finished_at (a sweep line, not an estimate); peak RSS is the worker's VmHWM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from bench.common import free_port, peak_rss_mb, service_env, spawn, stop, unique_prefix, wait_port, wrk


def settings_for(env: dict[str, str], prefix: str):  # type: ignore[no-untyped-def]
    from config import AppSettings, MongoSettings, RabbitSettings, RedisSettings, Settings

    return Settings(app=AppSettings(data_dir=f"/tmp/{prefix}"), mongo=MongoSettings(url=None),
                    rabbit=RabbitSettings(url=env["QUEUE_CONNECTIONURL"], queue_prefix=prefix + "."),
                    redis=RedisSettings(url=env["REDIS_URI"], key_prefix=prefix + ":"))


def proc_env(env: dict[str, str], prefix: str, **extra: str) -> dict[str, str]:
    return {**env, "RABBIT_QUEUE_PREFIX": prefix + ".", "REDIS_KEY_PREFIX": prefix + ":",
            "APP_DATA_DIR": f"/tmp/{prefix}", **extra}


class Completions:
    """Counts terminal transitions published on the job store's channel."""

    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0

    async def run(self, redis, channel: str, ready: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        ready.set()
        async for _ in pubsub.listen():
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now
            self.count += 1


async def throughput(env: dict[str, str], seconds: int, connections: int) -> None:
    from services.context import build_context

    prefix = unique_prefix()
    ctx = await build_context(settings_for(env, prefix))
    key = (await ctx.keys.create("bench"))[0]
    await ctx.broker.declare(["jobs.model"])
    port = free_port()
    api = spawn(["index.py", "api"], proc_env(env, prefix, PORT=str(port)))
    worker = spawn(["index.py", "worker", "--pool", "model"], proc_env(env, prefix))
    counter = Completions()
    ready = asyncio.Event()
    assert ctx.redis is not None
    listener = asyncio.create_task(counter.run(ctx.redis, f"{prefix}:jobs:done", ready))
    try:
        await asyncio.to_thread(wait_port, port)
        await ready.wait()
        await asyncio.sleep(2)  # the worker connects and declares
        body = json.dumps({"kind": "model", "payload": {
            "model": "mock-0ms", "messages": [{"role": "user", "content": "ping"}]}})
        started = time.perf_counter()
        load = await asyncio.to_thread(wrk, f"http://127.0.0.1:{port}/api/v1/jobs", body,
                                       f"Bearer {key}", connections=connections, seconds=seconds)
        submitted = load["requests"] - load["errors"]
        deadline = time.perf_counter() + 60
        while counter.count < submitted and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        elapsed = counter.last - started
        print(f"throughput: submitted {load['rps']:.0f} jobs/s (p50 {load['p50_ms']:.1f} ms, "
              f"p99 {load['p99_ms']:.1f} ms); completed {counter.count}/{submitted} "
              f"= {counter.count / elapsed:.0f} jobs/s end to end (target >= 1000)")
    finally:
        listener.cancel()
        stop(api)
        stop(worker)
        await ctx.close()


async def capacity(env: dict[str, str], jobs: int, latency_ms: int) -> None:

    from services.context import build_context
    from services.jobs.model import JobKind

    prefix = unique_prefix()
    ctx = await build_context(settings_for(env, prefix))
    await ctx.broker.declare(["jobs.model"])
    payload = {"provider": "mock", "model": f"mock-{latency_ms}ms",
               "messages": [{"role": "user", "content": "hold"}]}
    ids: list[str] = []
    for start in range(0, jobs, 500):
        created = await asyncio.gather(*(ctx.lifecycle.submit("bench", JobKind.MODEL, payload)
                                         for _ in range(min(500, jobs - start))))
        ids += [c.job.id for c in created]
    worker = spawn(["index.py", "worker", "--pool", "model"],
                   proc_env(env, prefix, JOBS_CONCURRENCY=str(jobs)))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert ctx.redis is not None
            done = 0
            for i in range(0, len(ids), 1000):
                statuses = await asyncio.gather(*(ctx.jobs.get(j) for j in ids[i:i + 1000]))
                done += sum(1 for j in statuses if j and j.status.value == "succeeded")
            if done == len(ids):
                break
            await asyncio.sleep(0.5)
        rss = peak_rss_mb(worker.pid)
    finally:
        stop(worker)
    records = [await ctx.jobs.get(j) for j in ids]
    edges = sorted([(r.started_at, 1) for r in records if r and r.started_at] +
                   [(r.finished_at, -1) for r in records if r and r.finished_at])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    span = max(r.finished_at for r in records if r and r.finished_at) - min(
        r.started_at for r in records if r and r.started_at)
    print(f"capacity: {done}/{jobs} jobs at {latency_ms} ms; peak {peak} running at once in one "
          f"worker process; all done in {span:.2f} s; worker peak RSS {rss:.0f} MB "
          f"(targets: >= 5000 concurrent, <= 500 MB)")
    await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=6000)
    parser.add_argument("--latency-ms", type=int, default=1000)
    args = parser.parse_args()
    env = service_env()
    asyncio.run(throughput(env, args.seconds, args.connections))
    asyncio.run(capacity(env, args.capacity, args.latency_ms))


if __name__ == "__main__":
    main()
