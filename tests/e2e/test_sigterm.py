"""Zero-downtime deploys: SIGTERM to an API process in the middle of a relayed job stream.

Two real `python index.py api` processes share RabbitMQ and Redis; a worker runs in the
test. Process A is sent SIGTERM mid-stream: its relayed stream ends with a `reconnect`
event naming the last event sent, its inline stream (OpenAI-compatible, in flight at the
signal) still finishes, and the client resumes the job's stream on process B with
`Last-Event-ID`, missing nothing and repeating nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from config import Settings
from services.providers.simulator.server import RunningSimulator
from tests.backends import context, make_settings
from tests.e2e.processes import ROOT, env_for
from tests.sim_fixtures import sim, sim_server  # noqa: F401
from workers.process import start_runner

WORDS = " ".join(f"w{i}" for i in range(24))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def api_process(settings: Settings, data_dir: Path, key: str,
                sim_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = env_for(settings, PORT=str(port), APP_HOST="127.0.0.1", APP_DATA_DIR=str(data_dir),
                  APP_DEV_API_KEY=key, PROVIDERS_SIMULATOR_URL=sim_url, OPENAI_API_KEY="sk-test-credential")
    proc = subprocess.Popen([sys.executable, str(ROOT / "index.py"), "api"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def _healthy(client: httpx.AsyncClient, base: str, within_s: float = 120) -> None:
    # Start-up imports every provider SDK: seconds on a busy 2-core machine.
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get(f"{base}/healthcheck")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not start")


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Events as dicts of their fields (data parsed as JSON); comments are skipped."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = orjson.loads(value) if name == "data" else value


@pytest.fixture
def via_simulator(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> RunningSimulator:  # noqa: F811
    monkeypatch.setenv("PROVIDERS_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-credential")
    return sim


async def test_sigterm_mid_stream_resumes_on_another_process(
    rabbit_url: str, redis_url: str, via_simulator: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    # ~25 chunks 100 ms apart: the stream is still going when the signal lands.
    await via_simulator.configure({"chunk_delay_ms": 100})
    settings = make_settings("real", unique, tmp_path / "worker")
    key = f"aim_dev{secrets.token_hex(2)}_{secrets.token_urlsafe(24)}"
    auth = {"Authorization": f"Bearer {key}"}
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        stop_worker = (await start_runner(ctx, ["model"])).stop
        with api_process(settings, tmp_path / "a", key, via_simulator.url) as (a, proc_a), \
                api_process(settings, tmp_path / "b", key, via_simulator.url) as (b, _):
            async with httpx.AsyncClient(timeout=60, headers=auth) as client:
                await _healthy(client, a)
                await _healthy(client, b)
                submitted = await client.post(f"{a}/api/v1/jobs", json={"kind": "model", "payload": {
                    "provider": "openai", "model": f"sim-{unique}", "stream": True,
                    "messages": [{"role": "user", "content": WORDS}]}})
                assert submitted.status_code == 202, submitted.text
                job_id = submitted.json()["id"]
                inline_request = client.build_request("POST", f"{a}/v1/chat/completions", json={
                    "model": "openai/gpt-4o-mini", "stream": True,
                    "messages": [{"role": "user", "content": WORDS}]})
                inline = await client.send(inline_request, stream=True)
                inline_lines = inline.aiter_lines()
                first_inline = await anext(inline_lines)  # in flight when the signal lands
                assert first_inline.startswith("data: ")

                on_a: list[dict[str, Any]] = []
                async with client.stream("GET", f"{a}/api/v1/jobs/{job_id}/events") as relayed:
                    assert relayed.status_code == 200
                    async for event in sse_events(relayed):
                        on_a.append(event)
                        if len([e for e in on_a if e.get("event") == "chunk"]) == 3:
                            os.kill(proc_a.pid, signal.SIGTERM)
                chunks_a = [e for e in on_a if e.get("event") == "chunk"]
                last = on_a[-1]
                assert last["event"] == "reconnect", on_a[-3:]
                assert last["id"] == chunks_a[-1]["id"] == last["data"]["last_event_id"]
                assert last["retry"] == "1000"
                assert len(chunks_a) < len(WORDS.split())  # it really was cut short

                # Process A takes no new work (not ready, or no longer listening); B resumes
                # right after the last event A sent.
                try:
                    assert (await client.get(f"{a}/ready")).status_code == 503
                except httpx.TransportError:
                    pass
                async with client.stream("GET", f"{b}/api/v1/jobs/{job_id}/events",
                                         headers={"Last-Event-ID": last["id"]}) as resumed:
                    on_b = [event async for event in sse_events(resumed)]

                # The inline stream on A was allowed to finish.
                rest = [line async for line in inline_lines if line.startswith("data: ")]
                assert rest[-1] == "data: [DONE]"
                inline_text = "".join(
                    choice["delta"].get("content") or ""
                    for line in [first_inline, *rest[:-1]]
                    for choice in orjson.loads(line[6:])["choices"])
                assert inline_text == f"sim: {WORDS}"
                await inline.aclose()
            assert proc_a.wait(timeout=60) is not None
        await stop_worker()

    chunks_b = [e for e in on_b if e.get("event") == "chunk"]
    assert on_b[-1]["event"] == "done" and on_b[-1]["data"]["status"] == "succeeded"
    assert "".join(c["data"]["delta"] for c in chunks_a + chunks_b) == f"sim: {WORDS}"
    ids = [c["id"] for c in chunks_a + chunks_b]
    assert len(ids) == len(set(ids))
