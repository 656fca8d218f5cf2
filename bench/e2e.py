"""Jobs through the whole pipeline: throughput at 0 ms, in-flight capacity at 1 s.

    PYTHONPATH=. .venv/bin/python bench/e2e.py [--seconds 10] [--capacity 6000]
        [--apis 1] [--workers 1] [--batch 0]

1. Throughput: API and worker processes (one each by default; `--apis N` runs gunicorn
   with N workers, `--workers M` M worker processes) on real RabbitMQ and Redis; wrk submits
   jobs for the mock provider at 0 ms latency while a Redis subscriber counts completions.
   `--batch K` submits K jobs a request through POST /api/v1/batches (routing: jobs, so each
   is a job with its record, queue message, metric row and webhook as any other). A metrics
   pool process writes each job's row to PostgreSQL; the run checks every row is there.
   Completed jobs/s = completions / time from first submit to last completion.
2. Capacity: N jobs at 1 s mock latency are queued, then one worker process (concurrency
   N) starts. The peak number of jobs running at once comes from the records' started_at and
   finished_at (a sweep line, not an estimate); peak RSS is the worker's VmHWM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

from bench.common import delete_queues, free_port, peak_rss_mb, service_env, spawn, stop, unique_prefix, wait_port, wrk


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


def wait_ready(url: str, timeout_s: float = 120) -> None:
    """gunicorn's master listens before its workers have started their apps."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout_s:.0f} s")


def start_api(env: dict[str, str], prefix: str, port: int, apis: int):  # type: ignore[no-untyped-def]
    if apis == 1:
        return spawn(["index.py", "api"], proc_env(env, prefix, PORT=str(port)))
    return spawn(["-m", "gunicorn", "index:app", "-c", "gunicorn.conf.py"],
                 proc_env(env, prefix, PORT=str(port), WEB_CONCURRENCY=str(apis)))


async def throughput(env: dict[str, str], seconds: int, connections: int, *, apis: int = 1,
                     workers: int = 1, batch: int = 0) -> None:
    from services.context import build_context

    prefix = unique_prefix()
    ctx = await build_context(settings_for(env, prefix))
    key = (await ctx.keys.create("bench"))[0]
    await ctx.broker.declare(["jobs.model"])
    # The metrics pool writes each job's row to PostgreSQL as in production, in a schema of
    # this run's own: a job is done when its row is written, not when its event is queued.
    schema = f"bench_e2e_{prefix}"
    async with await psycopg.AsyncConnection.connect(env["TIMESCALE_SERVICE_URL"], autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    env = {**env, "TIMESCALE_DB_SCHEMA": schema}
    port = free_port()
    api = start_api(env, prefix, port, apis)
    pool = [spawn(["index.py", "worker", "--pool", "model"], proc_env(env, prefix)) for _ in range(workers)]
    pool.append(spawn(["index.py", "worker", "--pool", "metrics"], proc_env(env, prefix)))
    counter = Completions()
    ready = asyncio.Event()
    assert ctx.redis is not None
    listener = asyncio.create_task(counter.run(ctx.redis, f"{prefix}:jobs:done", ready))
    try:
        await asyncio.to_thread(wait_port, port)
        await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/ready")
        await ready.wait()
        await asyncio.sleep(2)  # the workers (and any other API process) connect and declare
        payload = {"model": "mock-0ms", "messages": [{"role": "user", "content": "ping"}]}
        if batch:
            url = f"http://127.0.0.1:{port}/api/v1/batches"
            body = json.dumps({"kind": "model", "routing": "jobs", "requests": [
                {"custom_id": f"r{i}", "payload": payload} for i in range(batch)]})
        else:
            url, body = f"http://127.0.0.1:{port}/api/v1/jobs", json.dumps({"kind": "model", "payload": payload})
        started = time.perf_counter()
        load = await asyncio.to_thread(wrk, url, body, f"Bearer {key}", connections=connections, seconds=seconds,
                                       timeout_s=10)
        submitted = (load["requests"] - load["errors"]) * max(batch, 1)
        deadline = time.perf_counter() + 60
        while counter.count < submitted and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        # wrk does not count the requests still open when it stops: their jobs come after.
        while time.perf_counter() - counter.last < 1 and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        elapsed = counter.last - started
        rows = await metric_rows(env["TIMESCALE_SERVICE_URL"], schema, counter.count)
        rows_s = time.perf_counter() - started
        shape = f"{apis} API process(es), {workers} worker process(es)" + (f", {batch} jobs a request" if batch else "")
        print(f"throughput ({shape}): submitted {load['rps'] * max(batch, 1):.0f} jobs/s "
              f"(p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms a request); completed "
              f"{counter.count}/{submitted} = {counter.count / elapsed:.0f} jobs/s end to end (target >= 1000); "
              f"metric rows {rows}/{counter.count} written, the last {rows_s - elapsed:.1f} s after the last job")
    finally:
        listener.cancel()
        stop(api)
        for worker in pool:
            stop(worker)
        await ctx.close()
        await delete_queues(env["QUEUE_CONNECTIONURL"], prefix + ".")
        async with await psycopg.AsyncConnection.connect(env["TIMESCALE_SERVICE_URL"], autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())


async def metric_rows(url: str, schema: str, expected: int, timeout_s: float = 60) -> int:
    """Rows in the run's metrics table once it holds `expected` (or at the timeout)."""
    deadline = time.perf_counter() + timeout_s
    rows = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.perf_counter() < deadline:
            try:
                row = await (await conn.execute(f'SELECT count(*) FROM "{schema}".request_metrics'.encode())).fetchone()
                rows = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                rows = 0
            if rows >= expected:
                break
            await asyncio.sleep(0.1)
    return rows


def spawn_spy(pid: int, path: str) -> subprocess.Popen[bytes]:
    """py-spy over 4 s of the worker, as collapsed stacks (one line per stack, a count)."""
    spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--duration", "4",
           "--rate", "250", "--format", "raw", "--output", path, "--nonblocking"]
    return subprocess.Popen(spy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def capacity(env: dict[str, str], jobs: int, latency_ms: int, spy_path: str = "") -> None:

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
    # Completions are counted off the store's channel: polling 6,000 records every 0.5 s
    # cost the harness ~60 ms of CPU a poll, taken from the two cores the worker runs on.
    counter = Completions()
    ready = asyncio.Event()
    assert ctx.redis is not None
    listener = asyncio.create_task(counter.run(ctx.redis, f"{prefix}:jobs:done", ready))
    await ready.wait()
    worker = spawn(["index.py", "worker", "--pool", "model"],
                   proc_env(env, prefix, JOBS_CONCURRENCY=str(jobs)))
    spy = None
    if spy_path:  # from the first start on: the worker's own start-up is not the subject
        while (head := await ctx.jobs.get(ids[0])) is not None and head.started_at is None:
            await asyncio.sleep(0.02)
        spy = spawn_spy(worker.pid, spy_path)
    try:
        deadline = time.time() + 120
        while counter.count < jobs and time.time() < deadline:
            await asyncio.sleep(0.1)
        rss = peak_rss_mb(worker.pid)
    finally:
        listener.cancel()
        if spy:
            spy.wait(timeout=60)
        stop(worker)
    records = [await ctx.jobs.get(j) for j in ids]
    done = sum(1 for r in records if r and r.status.value == "succeeded")
    edges = sorted([(r.started_at, 1) for r in records if r and r.started_at] +
                   [(r.finished_at, -1) for r in records if r and r.finished_at])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    span = max(r.finished_at for r in records if r and r.finished_at) - min(
        r.started_at for r in records if r and r.started_at)
    first = min(r.started_at for r in records if r and r.started_at)
    starts = collections.Counter(int((r.started_at - first) / 0.25) for r in records if r and r.started_at)
    print(f"capacity: {done}/{jobs} jobs at {latency_ms} ms; peak {peak} running at once in one "
          f"worker process; all done in {span:.2f} s; worker peak RSS {rss:.0f} MB "
          f"(targets: >= 5000 concurrent, <= 500 MB)")
    print("  starts per 0.25 s from the first: " + " ".join(str(starts[i]) for i in range(max(starts) + 1)))
    await ctx.close()
    await delete_queues(env["QUEUE_CONNECTIONURL"], prefix + ".")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--capacity", type=int, default=6000)
    parser.add_argument("--latency-ms", type=int, default=1000)
    parser.add_argument("--apis", type=int, default=1, help="API processes (gunicorn workers when > 1)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the model pool")
    parser.add_argument("--batch", type=int, default=0, help="jobs per request via /api/v1/batches (0: /api/v1/jobs)")
    parser.add_argument("--spy", default="", help="write py-spy's collapsed stacks of the capacity worker here")
    args = parser.parse_args()
    env = service_env()
    if args.seconds:
        asyncio.run(throughput(env, args.seconds, args.connections, apis=args.apis, workers=args.workers,
                               batch=args.batch))
    if args.capacity:
        asyncio.run(capacity(env, args.capacity, args.latency_ms, args.spy))


if __name__ == "__main__":
    main()
