"""Chatbot turns per second through the whole chatbot path, beside plain model jobs.

One process on the embedded backends (or on RabbitMQ and Redis when their URLs are set),
the mock provider at 0 ms, a published chatbot bridge. A turn is what the chatbot route
does: resolve the bridge, open the thread and take a turn number, run the `chatbot` job
(turn order, history from the thread store, the model call, both messages written, the
job record, metric event and listeners). `threads` conversations run side by side, each
sending its turns one after another; the same number of plain `model` runs on the inline
path give the ratio (what memory and ordering cost per call).

    PYTHONPATH=. .venv/bin/python bench/chat_turns.py [--threads 16 --turns 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from config import (
    AppSettings,
    JobSettings,
    MongoSettings,
    RabbitSettings,
    RedisSettings,
    Settings,
    TimescaleSettings,
)
from services.auth.principal import Principal
from services.bridges.schemas import BridgeCreate
from services.chat.schemas import ChatJobPayload
from services.context import build_context
from services.jobs.model import JobKind
from services.providers.types import Message


def settings(data_dir: str) -> Settings:
    prefix = f"bench{os.getpid()}"
    return Settings(
        app=AppSettings(environment="test", data_dir=data_dir),
        rabbit=RabbitSettings(url=os.environ.get("QUEUE_CONNECTIONURL"), queue_prefix=prefix + "."),
        redis=RedisSettings(url=os.environ.get("REDIS_URI"), key_prefix=prefix + ":"),
        mongo=MongoSettings(url=None), timescale=TimescaleSettings(url=None), jobs=JobSettings(),
    )


async def run(threads: int, turns: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        ctx = await build_context(settings(data_dir), role="bench")
        try:
            await ctx.broker.declare(["metrics"])
            await ctx.bridges.create("org", BridgeCreate(name="bot", slug="bot", type="chatbot",
                                                         provider="mock", model="mock-0ms"))
            principal = Principal("org")
            latencies: list[float] = []

            async def conversation(n: int) -> None:
                thread_id: str | None = None
                for t in range(turns):
                    began = time.perf_counter()
                    turn = await ctx.turns.prepare(principal, "bot", thread_id,
                                                   [Message(role="user", content=f"conversation {n} turn {t}")], {})
                    await ctx.lifecycle.run_inline("org", JobKind.CHATBOT, turn.payload, turn.meta)
                    thread_id = turn.payload.thread_id
                    latencies.append((time.perf_counter() - began) * 1000)

            async def plain(n: int) -> None:
                for t in range(turns):
                    payload = ChatJobPayload(provider="mock", model="mock-0ms", cache=False,
                                             messages=[Message(role="user", content=f"plain {n} {t}")])
                    await ctx.lifecycle.run_inline("org", JobKind.MODEL, payload, {})

            for name, job in (("chatbot turns", conversation), ("model runs", plain)):
                latencies.clear()
                began = time.perf_counter()
                await asyncio.gather(*(job(n) for n in range(threads)))
                seconds = time.perf_counter() - began
                rate = threads * turns / seconds
                line = f"{name}: {threads * turns} in {seconds:.2f} s = {rate:,.0f}/s"
                if latencies:
                    latencies.sort()
                    line += (f"; per turn p50 {statistics.median(latencies):.2f} ms, "
                             f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms")
                print(line, flush=True)
        finally:
            await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--turns", type=int, default=25)
    args = parser.parse_args()
    asyncio.run(run(args.threads, args.turns))


if __name__ == "__main__":
    main()
