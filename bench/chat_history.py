"""Time to assemble a turn's history for a thread of 1,000 messages (p50, p99).

The thread holds 500 turns (a user message of ~40 words, an answer of ~80). Each sample
is one `HistoryAssembler.assemble` for the next turn under the default policy (4,000
tokens, at most 200 messages read): one store read plus token counting, newest first,
until the budget is spent. Run on the embedded store and on MongoDB's adapter over
async-wrapped mongomock (an in-memory stand-in: it measures our adapter's work, not a
server's), with an estimated model (`mock`) and an OpenAI one (tiktoken).

    PYTHONPATH=. .venv/bin/python bench/chat_history.py [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from services.bridges.model import MemoryPolicy
from services.providers.types import Message
from services.threads.memory import HistoryAssembler
from services.threads.memory_store import MemoryThreadStore
from services.threads.model import Thread, ThreadMessage
from services.threads.mongo_store import MongoThreadStore
from services.threads.store import ThreadStore
from services.threads.tokens import TokenCounter
from tests.services.config.mongomock_async import async_mongomock_database

TURNS = 500
USER = " ".join(["could you check the status of my order and the delivery date"] * 4)
ANSWER = " ".join(["your order shipped yesterday and should arrive within three days"] * 8)


async def filled(store: ThreadStore) -> Thread:
    await store.connect()
    thread = Thread(org_id="org", bridge_id="br")
    await store.create_thread(thread)
    for turn in range(1, TURNS + 1):
        await store.append("org", thread.id, [
            ThreadMessage.of(Message(role="user", content=f"{turn} {USER}"), thread=thread, job_id=f"j{turn}",
                             turn=turn, seq=0),
            ThreadMessage.of(Message(role="assistant", content=f"{turn} {ANSWER}"), thread=thread,
                             job_id=f"j{turn}", turn=turn, seq=1)])
    found = await store.get_thread("org", thread.id)
    assert found is not None
    return found


async def measure(assembler: HistoryAssembler, thread: Thread, provider: str, model: str,
                  samples: int) -> dict[str, Any]:
    policy = MemoryPolicy()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        history = await assembler.assemble(thread, policy, provider=provider, model=model,
                                           before_turn=TURNS + 1)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1],
            "messages": len(history.messages), "tokens": history.tokens}


async def main(samples: int) -> None:
    counter = TokenCounter()
    stores: dict[str, ThreadStore] = {
        "embedded": MemoryThreadStore(),
        "mongomock": MongoThreadStore(database=async_mongomock_database()),
    }
    rows = []
    for name, store in stores.items():
        thread = await filled(store)
        assembler = HistoryAssembler(store, counter)
        for provider, model in (("mock", "mock-0ms"), ("openai", "gpt-4o")):
            await measure(assembler, thread, provider, model, 20)  # warm up
            rows.append((name, model, await measure(assembler, thread, provider, model, samples)))
    print("| store | model (counting) | p50 ms | p99 ms | messages kept | tokens |")
    print("|---|---|---|---|---|---|")
    for name, model, r in rows:
        how = "tiktoken" if model.startswith("gpt") else "estimate"
        print(f"| {name} | {model} ({how}) | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['messages']} | {r['tokens']} |")
    base = rows[0][2]["p50_ms"]
    for name, model, r in rows[1:]:
        print(f"p50 {name}/{model} vs embedded/mock: {r['p50_ms'] / base:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    asyncio.run(main(parser.parse_args().samples))
