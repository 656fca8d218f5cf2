"""GET /api/v1/jobs/{id}/events: a queued job's stream relayed as Server-Sent Events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from services.providers.simulator.server import RunningSimulator
from tests.backends import BACKENDS
from tests.platform import Platform, platform


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def via_simulator(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:
    """Point every provider at the simulator (settings are read from the environment)."""
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-credential")
    return sim


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Events as dicts (id, event, data); comment-only blocks become {"comment": ...}."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        event: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                event["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                event[name] = orjson.loads(value) if name == "data" else value
        events.append(event)
    return events


async def _events(p: Platform, job_id: str, headers: dict[str, str] | None = None) -> Any:
    return await p.client.get(f"/api/v1/jobs/{job_id}/events",
                              headers={**p.org_a, **(headers or {})})


async def test_stream_relay_and_resume(
    backend: str, via_simulator: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    await via_simulator.configure({"chunk_delay_ms": 5})
    text = "one two three four five six seven"
    async with platform(backend, unique, tmp_path) as p:
        submitted = (await p.submit(text, model=f"sim-{unique}", provider="openai",
                                    stream=True)).json()
        # Opened while the job is queued or running: relayed live until it ends.
        live = await _events(p, submitted["id"])
        assert live.status_code == 200
        assert live.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(live.text)
        chunks = [e for e in events if e.get("event") == "chunk"]
        assert "".join(c["data"]["delta"] for c in chunks) == f"sim: {text}"
        assert len(chunks) >= 8 and all(c["id"] for c in chunks)
        done = events[-1]
        assert done["event"] == "done" and done["data"]["status"] == "succeeded"
        assert done["data"]["result"]["content"] == f"sim: {text}"

        # Reconnect after the third chunk: only what came after it, then done again.
        resumed = parse_sse((await _events(p, submitted["id"],
                                           {"Last-Event-ID": chunks[2]["id"]})).text)
        assert [e["id"] for e in resumed if e.get("event") == "chunk"] == [
            c["id"] for c in chunks[3:]]
        assert resumed[-1]["event"] == "done"

        # Another org cannot see it; a bad Last-Event-ID is refused.
        other = await p.client.get(f"/api/v1/jobs/{submitted['id']}/events", headers=p.org_b)
        assert other.status_code == 404
        bad = await _events(p, submitted["id"], {"Last-Event-ID": "nope"})
        assert bad.status_code == 422


async def test_failed_stream_job_ends_with_an_error_event(
    via_simulator: RunningSimulator, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESILIENCE_RETRY_ATTEMPTS", "1")
    async with platform("embedded", unique, tmp_path, max_attempts=1) as p:
        job = (await p.submit("x", model=f"sim-fail-400-{unique}", provider="openai",
                              stream=True)).json()
        events = parse_sse((await _events(p, job["id"])).text)
    assert [e.get("event") for e in events] == ["error"]
    assert events[0]["data"]["error"]["code"] == "invalid_request"


async def test_job_without_stream_gets_heartbeats_then_done(
    via_simulator: RunningSimulator, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_SSE_HEARTBEAT_S", "0.1")
    async with platform("embedded", unique, tmp_path) as p:
        job = (await p.submit("quiet", model=f"sim-600ms-{unique}", provider="openai")).json()
        events = parse_sse((await _events(p, job["id"])).text)
    assert {"comment": "keep-alive"} in events
    assert [e.get("event") for e in events if "event" in e] == ["done"]
    assert events[-1]["data"]["result"]["content"] == "sim: quiet"
