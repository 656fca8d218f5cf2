"""A stand-in worker process for the shared-breaker test.

Builds its own chat runtime (its own Redis client, breaker and OpenAI adapter pointed at the
simulator) from the environment, then reads commands from stdin: `call N` runs N chat
requests through the executor and prints one JSON line (each request's outcome: "ok" or the
error code); `quit` exits. Only the OpenAI SDK is loaded: the full registry imports four
SDKs, which costs seconds of start-up on a busy 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from config import load_settings
from services.chat.executor import execute_chat
from services.chat.runtime import build_runtime
from services.common.redis import create_redis
from services.context import Context
from services.errors import PlatformError
from services.providers.openai_adapter import OpenAIAdapter


async def static_credential(org_id: str, provider: str) -> str:
    return "sk-test-credential"


async def main() -> None:
    settings = load_settings()
    redis = create_redis(settings, role="worker")
    adapter = OpenAIAdapter("openai", base_url=os.environ["PROVIDERS_SIMULATOR_URL"] + "/openai/v1")
    runtime = build_runtime(settings, redis, providers={"openai": adapter},
                            credentials=static_credential)
    # The executor needs only the settings and the chat runtime from its Context.
    none: Any = None
    ctx = Context(settings=settings, broker=none, jobs=none, stores=none, keys=none, bridges=none,
                  credentials=none, redis=redis,
                  chat=runtime)
    ctx.on_close(redis.aclose)
    ctx.on_close(adapter.aclose)
    ctx.on_close(runtime.close)
    model = os.environ["TEST_MODEL"]
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": os.getpid()}), flush=True)
    try:
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            command, _, count = line.partition(" ")
            if command == "quit":
                break
            outcomes = []
            for _ in range(int(count)):
                try:
                    result = await execute_chat(ctx, {
                        "provider": "openai", "model": model, "cache": False,
                        "messages": [{"role": "user", "content": "hi"}]}, org_id="org-a")
                    outcomes.append("ok" if result["model"] == model else "wrong-model")
                except PlatformError as exc:
                    outcomes.append(exc.code)
            print(json.dumps({"outcomes": outcomes}), flush=True)
    finally:
        await ctx.close()


if __name__ == "__main__":
    asyncio.run(main())
