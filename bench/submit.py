"""Accepted jobs/s and latency of POST /api/v1/jobs beside a bare FastAPI endpoint.

    PYTHONPATH=. .venv/bin/python bench/submit.py [--seconds 8] [--connections 64]

One uvicorn process (uvloop + httptools) serves both routes on real RabbitMQ and Redis;
wrk drives them in alternating rounds so drift on this shared machine hits both alike.
A 202 from /api/v1/jobs means the job is recorded in Redis and confirmed by the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from bench.common import free_port, service_env, spawn, stop, unique_prefix, wait_port, wrk

BODY = json.dumps({"kind": "model", "payload": {
    "model": "mock-0ms", "messages": [{"role": "user", "content": "Summarise the attached notes in one line."}],
    "temperature": 0.2, "max_tokens": 64}})


async def make_key(env: dict[str, str], prefix: str) -> str:
    from config import AppSettings, MongoSettings, RabbitSettings, RedisSettings, Settings
    from services.context import build_context

    settings = Settings(app=AppSettings(data_dir=f"/tmp/{prefix}"), mongo=MongoSettings(url=None),
                        rabbit=RabbitSettings(url=env["QUEUE_CONNECTIONURL"], queue_prefix=prefix + "."),
                        redis=RedisSettings(url=env["REDIS_URI"], key_prefix=prefix + ":"))
    ctx = await build_context(settings)
    try:
        return (await ctx.keys.create("bench"))[0]
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    env = service_env()
    prefix = unique_prefix()
    key = asyncio.run(make_key(env, prefix))
    port = free_port()
    server = spawn(["-m", "uvicorn", "bench.submit_app:app", "--port", str(port), "--loop", "uvloop",
                    "--http", "httptools", "--no-access-log", "--log-level", "warning"], {
        **env, "RABBIT_QUEUE_PREFIX": prefix + ".", "REDIS_KEY_PREFIX": prefix + ":",
        "APP_DATA_DIR": f"/tmp/{prefix}"})
    try:
        wait_port(port)
        auth = f"Bearer {key}"
        base = f"http://127.0.0.1:{port}"
        wrk(f"{base}/bare", BODY, auth, connections=args.connections, seconds=2)  # warm-up
        wrk(f"{base}/api/v1/jobs", BODY, auth, connections=args.connections, seconds=2)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "submit": []}
        for _ in range(args.rounds):
            results["bare"].append(wrk(f"{base}/bare", BODY, auth, connections=args.connections, seconds=args.seconds))
            results["submit"].append(wrk(f"{base}/api/v1/jobs", BODY, auth, connections=args.connections,
                                         seconds=args.seconds))
    finally:
        stop(server)

    def mean(name: str, field: str) -> float:
        return sum(r[field] for r in results[name]) / len(results[name])

    for name in ("bare", "submit"):
        print(f"{name:7s} {mean(name, 'rps'):8.0f} req/s  p50 {mean(name, 'p50_ms'):6.2f} ms  "
              f"p99 {mean(name, 'p99_ms'):6.2f} ms  errors {sum(r['errors'] for r in results[name]):.0f}")
    print(f"ratio submit/bare: {mean('submit', 'rps') / mean('bare', 'rps'):.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
