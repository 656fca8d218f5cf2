"""Webhook deliveries per second to a local receiver.

    PYTHONPATH=. .venv/bin/python bench/webhooks.py [--deliveries 5000] [--backend embedded|real]
        [--verify] [--per-endpoint 50]

A receiver process (plain asyncio on uvloop, HTTP/1.1 keep-alive) listens on 127.0.0.1 and
answers 200; 127.0.0.1/32 is the only allow-listed target and nothing else is contacted.

1. pipeline: N finished jobs go through the webhook job-finished listener (event and
   delivery records, one `webhooks` message each; other listeners, such as metrics, are not
   called so their background publishing stays out of the measured window). Then the
   webhooks pool starts in this process: the real runner, handler, network guard, signing,
   HTTP client and store, on uvloop as `python index.py worker --pool webhooks` runs. Rate =
   N / time from the pool's start until the N-th attempt is recorded as a success (read from
   the deliveries counter); the receiver's own count must equal N. Also reported: this
   process's CPU time per delivery over that window.
2. store alone, same run: the store calls one delivery makes (`load`, `add_attempt`) for
   each delivery the pipeline recorded, without broker or HTTP.
3. client alone, same run, same receiver: N signed POSTs through the guard and the delivery
   HTTP client (services/net/client.py, aiohttp, configured as the webhook runtime builds it)
   at the same concurrency, no queue and no store.

--verify makes the receiver check every signature with the standardwebhooks library; any
mismatch fails the run. The run stops by itself (--deadline, default 120 s); on the real
backends its queues and keys are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import uvloop

from bench.common import service_env, unique_prefix
from config import (
    AppSettings,
    JobSettings,
    MongoSettings,
    RabbitSettings,
    RedisSettings,
    Settings,
    TimescaleSettings,
    WebhookSettings,
)
from services.context import Context
from services.jobs.model import Job, JobKind, JobStatus
from services.net.client import GuardedClient
from services.net.guard import NetPolicy, check_url
from services.observability.prom import WEBHOOK_DELIVERIES
from services.webhooks import service
from services.webhooks.dispatch import on_job_finished
from services.webhooks.models import Attempt, Delivery
from services.webhooks.signing import signature_headers
from workers.process import start_runner

# Job workers finish many jobs at once: the listener runs this many at a time.
LISTENER_CONCURRENCY = 100
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
BODY = '{"id":"msg_bench","type":"job.succeeded","data":{"job":{"result":"' + "x" * 200 + '"}}}'


def receiver_main(port: int, secret: str | None, count: Synchronized[int],
                  bad: Synchronized[int], ready: MpEvent) -> None:
    """The receiver process: parse requests, optionally verify, answer 200, count."""
    from standardwebhooks import Webhook

    hook = Webhook(secret) if secret else None

    class Http(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                lines = self.buffer[:end].decode("latin-1").split("\r\n")[1:]
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (line.partition(":") for line in lines)}
                length = int(headers.get("content-length", "0"))
                if len(self.buffer) < end + 4 + length:
                    return
                body = self.buffer[end + 4:end + 4 + length]
                self.buffer = self.buffer[end + 4 + length:]
                if hook is not None:
                    try:
                        hook.verify(body, headers)
                    except Exception:
                        bad.value += 1
                count.value += 1
                self.transport.write(RESPONSE)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


def settings_for(backend: str, per_endpoint: int, prefix: str) -> Settings:
    env = service_env() if backend == "real" else {}
    return Settings(
        app=AppSettings(environment="bench", data_dir=tempfile.mkdtemp(prefix="whbench"),
                        log_level="WARNING"),
        rabbit=RabbitSettings(url=env.get("QUEUE_CONNECTIONURL"), queue_prefix=f"{prefix}."),
        redis=RedisSettings(url=env.get("REDIS_URI"), key_prefix=f"{prefix}:"),
        mongo=MongoSettings(url=None), timescale=TimescaleSettings(url=None),
        jobs=JobSettings(retention_s=600),
        webhooks=WebhookSettings(allow_cidrs=["127.0.0.1/32"],
                                 max_in_flight_per_endpoint=per_endpoint),
    )


async def pipeline(ctx: Context, n: int, deadline_s: float) -> dict[str, float]:
    started = time.perf_counter()
    for offset in range(0, n, LISTENER_CONCURRENCY):
        await asyncio.gather(*(on_job_finished(ctx.webhooks, Job(
            org_id="org-bench", kind=JobKind.MODEL, status=JobStatus.SUCCEEDED,
            result={"content": "x" * 200}, finished_at=time.time()))
            for _ in range(min(LISTENER_CONCURRENCY, n - offset))))
    listener_s = time.perf_counter() - started

    success = WEBHOOK_DELIVERIES.labels("success")
    before = success._value.get()
    cpu_started, started = time.process_time(), time.perf_counter()
    stop = (await start_runner(ctx, ["webhooks"])).stop
    while success._value.get() - before < n:
        if time.perf_counter() - started > deadline_s:
            raise SystemExit(f"deadline: {success._value.get() - before:.0f} delivered")
        await asyncio.sleep(0.005)
    deliver_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    await stop()
    return {"per_s": n / deliver_s, "listener_per_s": n / listener_s, "cpu_us": cpu_s / n * 1e6}


async def store_alone(ctx: Context, concurrency: int) -> float:
    """What the delivery path asks of the store, alone: `load` then `add_attempt`, for each
    delivery the pipeline made, `concurrency` at a time."""
    store = ctx.webhooks.store
    found, cursor = [], None
    while True:
        page = await store.list_deliveries("org-bench", limit=200, cursor=cursor)
        found += page.deliveries
        if not (cursor := page.next_cursor):
            break
    slots = asyncio.Semaphore(concurrency)

    async def one(delivery: Delivery) -> None:
        async with slots:
            loaded, _ = await store.load(delivery.id, delivery.event_id)
            assert loaded is not None
            await store.add_attempt(loaded, Attempt(number=loaded.attempts + 1,
                                                    started_at=time.time(), outcome="success"))

    started = time.perf_counter()
    await asyncio.gather(*(one(d) for d in found))
    return len(found) / (time.perf_counter() - started)


async def client_alone(url: str, secret: str, n: int, concurrency: int) -> float:
    """Signed POSTs through the guard and the delivery client, `concurrency` at a time."""
    policy = NetPolicy.build(allow_cidrs=["127.0.0.1/32"])
    slots = asyncio.Semaphore(concurrency)
    async with GuardedClient(policy, decompress=False, retry_unanswered=True) as http:

        async def one() -> None:
            async with slots:
                target = await check_url(url, policy)
                headers = signature_headers([secret], "msg_bench", BODY, int(time.time()))
                await http.request("POST", target, headers=headers, body=BODY.encode(),
                                   read_limit=65536)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - started)


async def _cleanup(settings: Settings) -> None:
    import aio_pika
    from redis.asyncio import Redis

    assert settings.redis.url and settings.rabbit.url
    redis = Redis.from_url(settings.redis.url)
    keys = [k async for k in redis.scan_iter(match=f"{settings.redis.key_prefix}*", count=1000)]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()  # type: ignore[attr-defined]
    connection = await aio_pika.connect(settings.rabbit.url)
    async with connection:
        channel = await connection.channel()
        for name in ("webhooks", "webhooks.dead"):
            await channel.queue_delete(settings.rabbit.queue_prefix + name)
        await channel.exchange_delete(f"{settings.rabbit.queue_prefix}webhooks.dlx")


async def run(args: argparse.Namespace) -> dict[str, float]:
    from services.context import build_context

    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = settings_for(args.backend, args.per_endpoint, unique_prefix())
    spawn = multiprocessing.get_context("spawn")
    count, bad, ready = spawn.Value("q", 0), spawn.Value("q", 0), spawn.Event()
    ctx = await build_context(settings, role="bench")
    receiver = None
    try:
        _, secret = await service.create_endpoint(ctx.webhooks, "org-bench", url=url)
        receiver = spawn.Process(target=receiver_main, daemon=True, args=(
            port, secret if args.verify else None, count, bad, ready))
        receiver.start()
        if not ready.wait(30):
            raise SystemExit("receiver did not start")
        out = await pipeline(ctx, args.deliveries, args.deadline)
        if count.value != args.deliveries:
            raise SystemExit(f"receiver saw {count.value} requests, expected {args.deliveries}")
        # Below the Redis client's 200-connection pool, as the worker's handlers share it.
        out["store_per_s"] = await store_alone(ctx, 150)
        out["client_per_s"] = await client_alone(url, secret, args.deliveries, args.per_endpoint)
        if bad.value:
            raise SystemExit(f"{bad.value} signatures did not verify")
        return out
    finally:
        await ctx.close()
        if settings.redis.url:
            await _cleanup(settings)
        if receiver is not None:
            receiver.terminate()
            receiver.join(5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--backend", choices=["embedded", "real"], default="embedded")
    parser.add_argument("--verify", action="store_true")
    parser.add_argument("--per-endpoint", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args()
    os.environ.setdefault("APP_LOG_LEVEL", "WARNING")
    r = uvloop.run(run(args))
    print(f"backend={args.backend} verify={args.verify} deliveries={args.deliveries}"
          f" pipeline_per_s={r['per_s']:.0f} worker_cpu_us_per_delivery={r['cpu_us']:.0f}"
          f" listener_per_s={r['listener_per_s']:.0f}"
          f" store_alone_per_s={r['store_per_s']:.0f}"
          f" client_alone_per_s={r['client_per_s']:.0f} load1={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
