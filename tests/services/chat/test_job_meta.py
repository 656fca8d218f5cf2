"""What a queued job records: every attempt across requeues, who answered, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.providers.simulator.server import RunningSimulator
from tests.backends import BACKENDS
from tests.chat_support import upstream_calls
from tests.platform import platform


@pytest.mark.parametrize("backend", BACKENDS)
async def test_job_keeps_every_attempt_across_requeues(
    backend: str, sim: RunningSimulator, unique: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-credential")
    # One call per job attempt: the two failures are retried through the delay queue.
    monkeypatch.setenv("RESILIENCE_RETRY_ATTEMPTS", "1")
    model = f"sim-failfirst-2-{unique}"
    async with platform(backend, unique, tmp_path, max_attempts=3) as p:
        job = (await p.submit("hi", provider="anthropic", model=model, temperature=0)).json()
        final = await p.poll(job["id"])
        again = await p.poll((await p.submit("hi", provider="anthropic", model=model, temperature=0)).json()["id"])
    assert final["status"] == "succeeded" and final["attempts"] == 3
    assert [(a["outcome"], a["error_code"]) for a in final["meta"]["attempts"]] == [
        ("error", "provider_unavailable"), ("error", "provider_unavailable"), ("ok", None)]
    assert (final["meta"]["provider"], final["meta"]["model"]) == ("anthropic", model)
    assert final["meta"]["cache"] == "miss"
    assert final["result"]["usage"]["total_tokens"] > 0
    assert "sk-test-credential" not in str(final)
    assert again["meta"]["cache"] == "hit" and again["meta"]["attempts"] == []
    assert await upstream_calls(sim, model) == 3
