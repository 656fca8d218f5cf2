"""Latency the platform adds over calling the provider directly, at a fixed request rate.

    PYTHONPATH=. .venv/bin/python bench/overhead.py [--rate 50] [--seconds 10] [--only a,b]

The provider simulator runs in a child process with no added latency; every scenario sends
--rate requests/s (open loop: a request starts on schedule whether or not earlier ones have
finished) for --seconds after a short warm-up, and records each request's latency:

  direct          the OpenAI SDK -> simulator: the baseline (run first and again last)
  inline          execute_chat() in this process -> OpenAI adapter -> simulator, cache off;
                  on the embedded backends (breaker in memory) and on Redis (shared breaker)
  inline-miss     the same with the cache on and every request new: LRU + Redis lookup,
                  single-flight lock, store (Redis backends)
  inline-job      the inline path as the HTTP endpoint runs it (job record, executor, job
                  listeners) without the HTTP hop; prints each job listener's median cost
  http            the OpenAI SDK -> `index.py api` (POST /v1/chat/completions, inline) ->
                  simulator; embedded backends, the API in its own process
  queued          submit + wait in this process: record, publish (confirmed), consume, run,
                  record the result, wake the waiter; embedded and RabbitMQ + Redis; prints
                  the median of each stage from the job record's timestamps
  cache-hit       execute_chat() answered from the cache (server-side time; LRU, then the
                  Redis copy as a second process sees it)
  sequential      one request at a time, direct / inline embedded / inline Redis in turn
                  (3 interleaved rounds): wall and CPU time per request with no queueing,
                  what the platform costs when the machine is not saturated

Added latency = the scenario's percentile minus the baseline's (the mean of both direct
runs), so figures compare within one run on this shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from bench.common import free_port, service_env, spawn, stop, unique_prefix, wait_port

MODEL = "gpt-4o-mini"
KEY = "sk-bench-credential"
_counter = itertools.count()


@dataclass
class Figures:
    name: str
    p50_ms: float
    p99_ms: float
    n: int
    errors: int

    def line(self, base: Figures | None) -> str:
        added = ""
        if base is not None:
            added = (f"  added p50 {self.p50_ms - base.p50_ms:+7.2f} ms"
                     f"  p99 {self.p99_ms - base.p99_ms:+7.2f} ms")
        return (f"{self.name:<22} p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms"
                f"  n={self.n} errors={self.errors}{added}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def at_rate(name: str, fn: Callable[[], Awaitable[Any]], rate: float, seconds: float,
                  warmup: int = 50) -> Figures:
    for _ in range(warmup):
        await fn()
    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            await fn()
        except Exception:
            errors += 1
            return
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    figures = Figures(name, percentile(latencies, 0.5), percentile(latencies, 0.99),
                      len(latencies), errors)
    print(figures.line(None), flush=True)
    return figures


def _messages() -> list[dict[str, str]]:
    # A fresh question each time, so nothing is answered from the cache unless we mean it.
    return [{"role": "user", "content": f"benchmark question {next(_counter)}"}]


def settings_for(sim_url: str, prefix: str, env: dict[str, str] | None) -> Any:
    from config import (
        AppSettings,
        MongoSettings,
        ProvidersSettings,
        RabbitSettings,
        RedisSettings,
        Settings,
        TimescaleSettings,
    )

    return Settings(
        app=AppSettings(environment="bench", data_dir=f"/tmp/{prefix}", log_level="WARNING"),
        rabbit=RabbitSettings(url=env["QUEUE_CONNECTIONURL"] if env else None,
                              queue_prefix=prefix + "."),
        redis=RedisSettings(url=env["REDIS_URI"] if env else None, key_prefix=prefix + ":"),
        mongo=MongoSettings(url=None), timescale=TimescaleSettings(url=None),
        providers=ProvidersSettings(simulator_url=sim_url),
    )


@contextlib.asynccontextmanager
async def platform(sim_url: str, env: dict[str, str] | None, *, workers: bool) -> AsyncIterator[Any]:
    from services.context import build_context
    from workers.process import start_runner

    prefix = unique_prefix()
    ctx = await build_context(settings_for(sim_url, prefix, env), role="bench")

    async def credential(org_id: str, provider: str) -> str:
        return KEY

    assert ctx.chat is not None
    ctx.chat.credentials = credential
    stop_workers = (await start_runner(ctx, ["model"])).stop if workers else None
    try:
        yield ctx
    finally:
        if stop_workers is not None:
            await stop_workers()
        await ctx.close()
        if env:
            await _delete_queues(env, prefix)


async def _delete_queues(env: dict[str, str], prefix: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(env["QUEUE_CONNECTIONURL"])
    async with connection:
        channel = await connection.channel()
        for name in (f"{prefix}.jobs.model", f"{prefix}.jobs.model.dead"):
            await channel.queue_delete(name)
        await channel.exchange_delete(f"{prefix}.jobs.model.dlx")


async def direct(sim_url: str, rate: float, seconds: float, name: str) -> Figures:
    import openai

    client = openai.AsyncOpenAI(api_key=KEY, base_url=sim_url + "/openai/v1", max_retries=0)
    try:
        return await at_rate(name, lambda: client.chat.completions.create(
            model=MODEL, messages=_messages()), rate, seconds)  # type: ignore[arg-type]
    finally:
        await client.close()


async def inline(sim_url: str, env: dict[str, str] | None, rate: float, seconds: float,
                 name: str, *, cache: bool) -> Figures:
    from bench.common import execute_chat

    async with platform(sim_url, env, workers=False) as ctx:
        return await at_rate(name, lambda: execute_chat(ctx, {
            "provider": "openai", "model": MODEL, "messages": _messages(), "cache": cache,
        }, org_id="bench"), rate, seconds)


async def queued(sim_url: str, env: dict[str, str] | None, rate: float, seconds: float,
                 name: str) -> Figures:
    from services.jobs.model import JobKind

    async with platform(sim_url, env, workers=True) as ctx:
        await ctx.broker.declare(["jobs.model"])

        # Per job, in ms: submit returned, job started, job finished, waiter woken.
        stages: list[tuple[float, float, float, float]] = []

        async def submit_and_wait() -> None:
            body = {"provider": "openai", "model": MODEL, "messages": _messages(), "cache": False}
            began = time.time()
            created = await ctx.lifecycle.submit("bench", JobKind.MODEL, body)
            submitted = time.time()
            job = await ctx.jobs.wait(created.job.id, 30)
            woken = time.time()
            if job is None or job.status.value != "succeeded":
                raise RuntimeError(f"job ended {job.status if job else 'missing'}")
            assert job.started_at is not None and job.finished_at is not None
            stages.append(((submitted - began) * 1000, (job.started_at - submitted) * 1000,
                           (job.finished_at - job.started_at) * 1000,
                           (woken - job.finished_at) * 1000))

        figures = await at_rate(name, submit_and_wait, rate, seconds)
        submit, start, run, wake = (percentile(list(c), 0.5) for c in zip(*stages, strict=True))
        print(f"  median ms: submit {submit:.2f}, to start {start:.2f}, run {run:.2f}, "
              f"finish to wake {wake:.2f}", flush=True)
        return figures


async def inline_job(sim_url: str, rate: float, seconds: float, name: str) -> Figures:
    """The inline path as POST /v1/chat/completions runs it (job record + executor + job
    listeners), without the HTTP hop; prints what each job listener costs."""
    from services.chat.schemas import ChatJobPayload
    from services.jobs.events import JobListeners
    from services.jobs.model import JobKind

    async with platform(sim_url, None, workers=False) as ctx:
        spent: dict[str, list[float]] = {}

        def timed(listener: Any) -> Any:
            label = getattr(listener, "__qualname__", repr(listener))

            async def wrapper(job: Any) -> None:
                started = time.perf_counter()
                try:
                    await listener(job)
                finally:
                    spent.setdefault(label, []).append((time.perf_counter() - started) * 1000)

            return wrapper

        ctx.lifecycle.listeners = JobListeners([timed(f) for f in ctx.lifecycle.listeners])
        def payload() -> ChatJobPayload:
            return ChatJobPayload.model_validate({
                "provider": "openai", "model": MODEL, "messages": _messages(), "cache": False})

        figures = await at_rate(name, lambda: ctx.lifecycle.run_inline("bench", JobKind.MODEL, payload(), {}),
                                rate, seconds)
        for label, values in spent.items():
            print(f"  job listener {label}: median {percentile(values, 0.5):.2f} ms", flush=True)
        return figures


async def cache_hit(sim_url: str, env: dict[str, str] | None, rate: float, seconds: float,
                    name: str, *, from_redis: bool) -> Figures:
    from bench.common import execute_chat

    body = {"provider": "openai", "model": MODEL,
            "messages": [{"role": "user", "content": "the cached question"}]}
    async with platform(sim_url, env, workers=False) as ctx:
        await execute_chat(ctx, body, org_id="bench")
        assert ctx.chat is not None
        cache = ctx.chat.cache

        async def hit() -> None:
            if from_redis:
                cache.lru._data.clear()  # as a second process would: only Redis has it
            result = await execute_chat(ctx, body, org_id="bench")
            assert result["cache"] == "hit"

        return await at_rate(name, hit, rate, seconds)


async def http(sim_url: str, rate: float, seconds: float, name: str) -> Figures:
    import openai

    from services.context import build_context

    prefix = unique_prefix()
    settings = settings_for(sim_url, prefix, None)
    ctx = await build_context(settings)  # writes the key to the API's embedded config file
    key = (await ctx.keys.create("bench"))[0]
    await ctx.close()
    port = free_port()
    env = {"PORT": str(port), "APP_DATA_DIR": f"/tmp/{prefix}", "PROVIDERS_SIMULATOR_URL": sim_url,
           "OPENAI_API_KEY": KEY, "APP_LOG_LEVEL": "WARNING"}
    blank = {k: "" for k in ("QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI",
                             "TIMESCALE_SERVICE_URL")}
    api = spawn(["index.py", "api"], {**blank, **env})
    client = openai.AsyncOpenAI(api_key=key, base_url=f"http://127.0.0.1:{port}/v1",
                                max_retries=0)
    try:
        await asyncio.to_thread(wait_port, port)
        return await at_rate(name, lambda: client.chat.completions.create(
            model=f"openai/{MODEL}", messages=_messages()), rate, seconds)  # type: ignore[arg-type]
    finally:
        await client.close()
        stop(api)


async def sequential(sim_url: str, env: dict[str, str], n: int = 200, rounds: int = 3) -> None:
    import openai

    from bench.common import execute_chat

    client = openai.AsyncOpenAI(api_key=KEY, base_url=sim_url + "/openai/v1", max_retries=0)
    async with platform(sim_url, None, workers=False) as embedded, \
            platform(sim_url, env, workers=False) as redis:
        def chat(ctx: Any) -> Callable[[], Awaitable[Any]]:
            return lambda: execute_chat(ctx, {"provider": "openai", "model": MODEL,
                                              "messages": _messages(), "cache": False},
                                        org_id="bench")

        paths: dict[str, Callable[[], Awaitable[Any]]] = {
            "direct": lambda: client.chat.completions.create(
                model=MODEL, messages=_messages()),  # type: ignore[arg-type]
            "inline embedded": chat(embedded),
            "inline redis": chat(redis),
        }
        totals = {name: [0.0, 0.0] for name in paths}
        for fn in paths.values():
            for _ in range(30):
                await fn()
        for _ in range(rounds):
            for name, fn in paths.items():
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(n):
                    await fn()
                totals[name][0] += (time.perf_counter() - wall) / n / rounds * 1000
                totals[name][1] += (time.process_time() - cpu) / n / rounds * 1000
    await client.close()
    base_wall, base_cpu = totals["direct"]
    print(f"\nsequential, {rounds} interleaved rounds of {n} requests (mean per request):")
    for name, (wall, cpu) in totals.items():
        print(f"{name:<22} wall {wall:6.2f} ms ({wall - base_wall:+.2f})  "
              f"cpu {cpu:6.2f} ms ({cpu - base_cpu:+.2f})", flush=True)


SCENARIOS = ("sequential", "inline", "inline-miss", "inline-job", "http", "queued", "cache-hit")


async def run(rate: float, seconds: float, only: set[str]) -> None:
    from services.providers.simulator.server import start_simulator_process

    env = service_env()
    sim = await start_simulator_process()
    results: list[Figures] = []
    try:
        if "sequential" in only:
            await sequential(sim.url, env)
        first = await direct(sim.url, rate, seconds, "direct (before)")
        if "inline" in only:
            results.append(await inline(sim.url, None, rate, seconds, "inline embedded",
                                        cache=False))
            results.append(await inline(sim.url, env, rate, seconds, "inline redis",
                                        cache=False))
        if "inline-miss" in only:
            results.append(await inline(sim.url, env, rate, seconds, "inline redis miss",
                                        cache=True))
        if "inline-job" in only:
            results.append(await inline_job(sim.url, rate, seconds, "inline job embedded"))
        if "http" in only:
            results.append(await http(sim.url, rate, seconds, "http inline embedded"))
        if "queued" in only:
            results.append(await queued(sim.url, None, rate, seconds, "queued embedded"))
            results.append(await queued(sim.url, env, rate, seconds, "queued rabbit+redis"))
        last = await direct(sim.url, rate, seconds, "direct (after)")
        base = Figures("direct (mean)", (first.p50_ms + last.p50_ms) / 2,
                       (first.p99_ms + last.p99_ms) / 2, first.n + last.n,
                       first.errors + last.errors)
        if "cache-hit" in only:
            hits = [await cache_hit(sim.url, None, rate, seconds, "cache hit lru",
                                    from_redis=False),
                    await cache_hit(sim.url, env, rate, seconds, "cache hit redis",
                                    from_redis=True)]
        print(f"\nrate {rate:g}/s for {seconds:g} s per scenario; cpus {os.cpu_count()}; "
              f"load {os.getloadavg()[0]:.2f}")
        print(base.line(None))
        for figures in results:
            print(figures.line(base))
        if "cache-hit" in only:
            for figures in hits:
                print(figures.line(None) + "  (server-side)")
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    uvloop.run(run(args.rate, args.seconds, set(args.only.split(","))))


if __name__ == "__main__":
    main()
