"""Retries through the real OpenAI and Anthropic SDKs against the provider simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import Permanent, Retryable
from services.providers.simulator.server import RunningSimulator
from services.resilience.errors import RetryLater
from tests.chat_support import chat_context, chat_settings, execute_chat, payload, upstream_calls


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_retry_then_success(
    sim: RunningSimulator, unique: str, tmp_path: Path, provider: str
) -> None:
    model = f"sim-failfirst-2-{unique}"  # the first two calls answer 503
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        result = await execute_chat(ctx, payload(provider=provider, model=model, cache=False),
                                    org_id="org-a")
    assert result["content"] == "sim: hello"
    assert await upstream_calls(sim, model) == 3
    assert [(a["outcome"], a["error_code"]) for a in result["attempts"]] == [
        ("error", "provider_unavailable"), ("error", "provider_unavailable"), ("ok", None)]


async def test_permanent_error_is_not_retried(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-fail-400-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        with pytest.raises(Permanent) as caught:
            await execute_chat(ctx, payload(model=model, cache=False), org_id="org-a")
    assert caught.value.code == "invalid_request"
    assert await upstream_calls(sim, model) == 1


async def test_spent_retries_leave_a_retryable_error_for_the_queue(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-fail-503-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url,
                             resilience={"retry_attempts": 2, "breaker_failures": 100})
    async with chat_context(settings) as ctx:
        with pytest.raises(Retryable) as caught:
            await execute_chat(ctx, payload(model=model, cache=False), org_id="org-a")
    assert caught.value.code == "provider_unavailable"
    assert await upstream_calls(sim, model) == 2


async def test_long_retry_after_is_requeued_not_slept(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-fail-429-{unique}"
    await sim.configure({"retry_after": 30})
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        with pytest.raises(RetryLater) as caught:
            await execute_chat(ctx, payload(model=model, cache=False), org_id="org-a")
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s >= 30
    assert await upstream_calls(sim, model) == 1
