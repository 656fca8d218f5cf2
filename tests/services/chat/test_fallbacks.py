"""The fallback chain against the provider simulator: who answers, what is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import Permanent, Retryable
from services.jobs.executor import RunAttempts
from services.providers.simulator.server import RunningSimulator
from services.resilience.errors import RetryLater
from tests.chat_support import chat_context, chat_settings, execute_chat, payload, upstream_calls


def _trail(result_or_attempts: object) -> list[tuple[str, str, str | None]]:
    attempts = (result_or_attempts["attempts"] if isinstance(result_or_attempts, dict)
                else result_or_attempts)
    return [(a["provider"], a["outcome"], a["error_code"]) for a in attempts]  # type: ignore[union-attr]


async def test_fallback_answers_when_the_primary_is_down(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    primary, backup = f"sim-fail-503-{unique}", f"claude-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url,
                             resilience={"retry_attempts": 2})
    async with chat_context(settings) as ctx:
        result = await execute_chat(ctx, payload(
            model=primary, cache=False,
            fallbacks=[{"provider": "anthropic", "model": backup}]), org_id="org-a")
    assert (result["provider"], result["model"]) == ("anthropic", backup)
    assert result["content"] == "sim: hello"
    assert _trail(result) == [("openai", "error", "provider_unavailable"),
                              ("openai", "error", "provider_unavailable"),
                              ("anthropic", "ok", None)]
    assert await upstream_calls(sim, primary) == 2
    assert await upstream_calls(sim, backup) == 1


async def test_open_circuit_goes_straight_to_the_fallback(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    primary, backup = f"sim-fail-503-{unique}", f"mistral-small-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url, resilience={
        "retry_attempts": 2, "breaker_failures": 2, "breaker_cooldown_s": 60})
    body = payload(model=primary, cache=False,
                   fallbacks=[{"provider": "mistral", "model": backup}])
    async with chat_context(settings) as ctx:
        await execute_chat(ctx, body, org_id="org-a")  # two failures open the circuit
        result = await execute_chat(ctx, body, org_id="org-a")
    assert _trail(result) == [("openai", "circuit_open", "circuit_open"), ("mistral", "ok", None)]
    assert result["provider"] == "mistral"
    assert await upstream_calls(sim, primary) == 2  # the second request never reached it


async def test_invalid_request_does_not_fall_back(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    primary, backup = f"sim-fail-400-{unique}", f"backup-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    attempts = RunAttempts()
    async with chat_context(settings) as ctx:
        with pytest.raises(Permanent) as caught:
            await execute_chat(ctx, payload(
                model=primary, cache=False, fallbacks=[{"provider": "groq", "model": backup}]),
                org_id="org-a", attempts=attempts)
    assert caught.value.code == "invalid_request"
    assert await upstream_calls(sim, backup) == 0
    assert [(a.provider, a.outcome, a.error_code) for a in attempts] == [
        ("openai", "error", "invalid_request")]


async def test_model_specific_refusal_falls_back(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    primary, backup = f"sim-fail-404-{unique}", f"backup-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        result = await execute_chat(ctx, payload(
            model=primary, cache=False, fallbacks=[
                {"provider": "nowhere", "model": "x"}, {"provider": "groq", "model": backup}]),
            org_id="org-a")
    assert _trail(result) == [("openai", "error", "model_not_found"),
                              ("nowhere", "error", "unknown_provider"), ("groq", "ok", None)]
    assert await upstream_calls(sim, primary) == 1  # permanent: not retried either


async def test_every_circuit_open_asks_the_queue_to_come_back_later(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    primary, backup = f"sim-fail-503-a{unique}", f"sim-fail-502-b{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url, resilience={
        "retry_attempts": 1, "breaker_failures": 1, "breaker_cooldown_s": 60})
    body = payload(model=primary, cache=False,
                   fallbacks=[{"provider": "anthropic", "model": backup}])
    async with chat_context(settings) as ctx:
        with pytest.raises(Retryable) as first:
            await execute_chat(ctx, body, org_id="org-a")
        with pytest.raises(RetryLater) as second:
            await execute_chat(ctx, body, org_id="org-a")
    assert first.value.code == "provider_unavailable"
    assert second.value.code == "circuit_open"
    assert second.value.retry_after_s is not None and 0 < second.value.retry_after_s <= 60
