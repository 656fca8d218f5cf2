"""Webhook deliveries per second to a local receiver.

    PYTHONPATH=. .venv/bin/python bench/webhooks.py [--deliveries 5000] [--backend embedded|real]
        [--verify] [--per-endpoint 50]

A receiver process (plain asyncio on uvloop, HTTP/1.1 keep-alive) listens on 127.0.0.1 and
answers 200; 127.0.0.1/32 is the only allow-listed target, nothing else is contacted. In
this process, N finished jobs go through the real job-finished listener (event + delivery
records, one `webhooks` message each), then the webhooks pool (the real runner, handler,
network guard, signing and store, on uvloop as `python index.py worker --pool webhooks`
runs) starts. Rate = N / time from the pool's start until the N-th attempt is recorded as
a success (read from the deliveries counter); the receiver's own count must equal N. With
--verify the receiver checks every signature with the standardwebhooks library and the
run fails on any mismatch. The run stops by itself (--deadline, default 120 s).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

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
from services.jobs.events import job_finished
from services.jobs.model import Job, JobKind, JobStatus
from services.observability.prom import WEBHOOK_DELIVERIES
from services.webhooks import service
from workers.process import start_runner

LISTENER_CONCURRENCY = 100
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


def receiver_main(port: int, secret: str | None, count: Synchronized, bad: Synchronized,
                  ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """The receiver process: parse requests, optionally verify, answer 200, count."""
    from standardwebhooks import Webhook

    hook = Webhook(secret) if secret else None

    class Http(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
                head = self.buffer[:end].decode("latin-1")
                headers = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:])
                )
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
                self.transport.write(RESPONSE)  # type: ignore[attr-defined]

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    uvloop.run(serve())


def settings_for(backend: str, per_endpoint: int, data_dir: str) -> Settings:
    env = service_env() if backend == "real" else {}
    prefix = unique_prefix()
    return Settings(
        app=AppSettings(environment="bench", data_dir=data_dir, log_level="WARNING"),
        rabbit=RabbitSettings(url=env.get("QUEUE_CONNECTIONURL"), queue_prefix=f"{prefix}."),
        redis=RedisSettings(url=env.get("REDIS_URI"), key_prefix=f"{prefix}:"),
        mongo=MongoSettings(url=None), timescale=TimescaleSettings(url=None),
        jobs=JobSettings(retention_s=600),
        webhooks=WebhookSettings(allow_cidrs=["127.0.0.1/32"],
                                 max_in_flight_per_endpoint=per_endpoint),
    )


async def run(args: argparse.Namespace) -> dict[str, float]:
    from services.context import build_context

    settings = settings_for(args.backend, args.per_endpoint, tempfile.mkdtemp(prefix="whbench"))
    ctx = await build_context(settings, role="bench")
    ctx_closed = False
    receiver: multiprocessing.Process | None = None
    try:
        port = _free_port()
        endpoint, secret = await service.create_endpoint(
            ctx, "org-bench", url=f"http://127.0.0.1:{port}/hook")
        spawn = multiprocessing.get_context("spawn")
        count, bad, ready = spawn.Value("q", 0), spawn.Value("q", 0), spawn.Event()
        receiver = spawn.Process(target=receiver_main, daemon=True, args=(
            port, secret if args.verify else None, count, bad, ready))
        receiver.start()
        if not ready.wait(30):
            raise SystemExit("receiver did not start")

        started = time.perf_counter()
        # Job workers finish many jobs at once: run the listener LISTENER_CONCURRENCY at a time.
        for offset in range(0, args.deliveries, LISTENER_CONCURRENCY):
            batch = min(LISTENER_CONCURRENCY, args.deliveries - offset)
            await asyncio.gather(*(job_finished(ctx, Job(
                org_id="org-bench", kind=JobKind.MODEL, status=JobStatus.SUCCEEDED,
                result={"content": "x" * 200}, finished_at=time.time())) for _ in range(batch)))
        enqueue_s = time.perf_counter() - started

        success = WEBHOOK_DELIVERIES.labels("success")
        before = success._value.get()
        started = time.perf_counter()
        stop = await start_runner(ctx, ["webhooks"])
        deadline = started + args.deadline
        while success._value.get() - before < args.deliveries:
            if time.perf_counter() > deadline:
                raise SystemExit(f"deadline: {success._value.get() - before:.0f} delivered")
            await asyncio.sleep(0.005)
        deliver_s = time.perf_counter() - started
        await stop()
        await ctx.close()
        ctx_closed = True
        if (count.value != args.deliveries or bad.value) and not args.no_check:
            raise SystemExit(f"receiver saw {count.value} requests, {bad.value} bad signatures")
        return {"deliveries": args.deliveries, "deliver_s": deliver_s,
                "deliveries_per_s": args.deliveries / deliver_s,
                "listener_per_s": args.deliveries / enqueue_s, "endpoint": endpoint.id != ""}
    finally:
        if not ctx_closed:
            await ctx.close()
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
    result = uvloop.run(run(args))
    print(f"backend={args.backend} verify={args.verify} deliveries={result['deliveries']:.0f} "
          f"deliver_s={result['deliver_s']:.2f} deliveries_per_s={result['deliveries_per_s']:.0f} "
          f"listener_per_s={result['listener_per_s']:.0f} cpus={os.cpu_count()} "
          f"load1={os.getloadavg()[0]:.1f} dir={Path.cwd().name}")


if __name__ == "__main__":
    main()
