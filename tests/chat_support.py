"""Settings and Contexts for executor tests: short backoffs and cool-downs, the provider
simulator behind every provider, a fixed test credential.

    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        result = await execute_chat(ctx, payload("hi"), org_id="org-a")

`execute_chat` / `stream_chat` call the context's model executor (services/chat/executor.py)
directly, without recording a job: what the lifecycle hands it, minus the job store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import AsyncIterator as _AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from config import CacheSettings, ChatSettings, ProvidersSettings, ResilienceSettings, Settings
from services.chat.executor import ChatExecutor
from services.chat.schemas import ChatJobPayload
from services.context import Context
from services.jobs.executor import RunAttempts, StreamEvent
from services.jobs.model import JobKind
from tests.backends import context, make_settings

TEST_KEY = "sk-test-credential-0123456789"


def chat_settings(
    backend: str, unique: str, data_dir: Path, *, sim_url: str | None = None,
    resilience: dict[str, Any] | None = None, cache: dict[str, Any] | None = None,
    chat: dict[str, Any] | None = None, jobs: dict[str, Any] | None = None,
) -> Settings:
    base = make_settings(backend, unique, data_dir, **{
        "retry_base_s": 0.01, "retry_max_s": 0.05, "in_process_retry_max_s": 1.0,
        **(jobs or {})})
    return base.model_copy(update={
        "providers": ProvidersSettings(simulator_url=sim_url),
        "resilience": ResilienceSettings(**{
            "retry_attempts": 3, "breaker_failures": 3, "breaker_window_s": 30.0,
            "breaker_cooldown_s": 0.5, "breaker_successes": 1, **(resilience or {})}),
        "cache": CacheSettings(**(cache or {})),
        "chat": ChatSettings(**{"tool_allow_hosts": ["127.0.0.1"], "tool_timeout_s": 5.0,
                                **(chat or {})}),
    })


async def static_credential(org_id: str, provider: str) -> str:
    return TEST_KEY


@asynccontextmanager
async def chat_context(settings: Settings) -> AsyncIterator[Context]:
    async with context(settings) as ctx:
        assert ctx.chat is not None
        ctx.chat.credentials = static_credential
        yield ctx


def payload(content: str = "hello", *, provider: str = "openai", model: str = "gpt-4o-mini",
            **extra: Any) -> dict[str, Any]:
    # temperature 0: deterministic, so the response cache may serve it (as the tests expect).
    return {"provider": provider, "model": model, "temperature": 0,
            "messages": [{"role": "user", "content": content}], **extra}


async def upstream_calls(sim: Any, model: str) -> int:
    """Requests the simulator received for `model` (its stats endpoint, over HTTP)."""
    stats = await sim.stats()
    return int(stats["by_model"].get(model, 0))


def model_executor(ctx: Context) -> ChatExecutor:
    executor = ctx.executors.get(JobKind.MODEL)
    assert isinstance(executor, ChatExecutor)
    return executor


async def execute_chat(
    ctx: Context, body: dict[str, Any] | ChatJobPayload, *, org_id: str,
    attempts: RunAttempts | None = None, deadline: float | None = None,
) -> dict[str, Any]:
    """The model executor's result for one chat request (no job record)."""
    request = body if isinstance(body, ChatJobPayload) else ChatJobPayload.model_validate(body)
    outcome = await model_executor(ctx).complete(request, org_id=org_id, attempts=attempts,
                                                 deadline=deadline)
    return outcome.result


async def stream_chat(
    ctx: Context, body: dict[str, Any] | ChatJobPayload, *, org_id: str,
) -> _AsyncIterator[StreamEvent]:
    request = body if isinstance(body, ChatJobPayload) else ChatJobPayload.model_validate(body)
    async for event in model_executor(ctx).complete_stream(request, org_id=org_id):
        yield event
