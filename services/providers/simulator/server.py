"""Start the simulator from tests and benchmarks.

    sim = await start_simulator()             # in this event loop, on a free port
    sim.base_url("openai")                     # http://127.0.0.1:PORT/openai/v1
    await sim.configure({"status": 503})       # server-wide dials
    await sim.stop()

`start_simulator_process()` runs it in a child process instead (same interface), so a
benchmark does not measure the simulator's CPU in the process under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from services.providers.simulator.app import SimState, Simulator

# Where each SDK expects its base URL to point (the SDK appends the rest of the path):
# Anthropic appends /v1/messages, Groq /openai/v1/..., Mistral /v1/...; the OpenAI SDK
# appends /chat/completions to a base that already ends in the version.
_REPO_ROOT = Path(__file__).resolve().parents[3]
BASE_PATHS = {
    "openai": "/openai/v1",
    "anthropic": "/anthropic",
    "groq": "/groq",
    "mistral": "/mistral",
    "openrouter": "/openrouter/api/v1",
    "gemini": "/gemini/v1beta/openai",
    "vllm": "/vllm/v1",
}


@dataclass
class RunningSimulator:
    url: str
    # Set when the server runs in this process: read or change it directly (thread-safe
    # enough for tests: whole-object assignments).
    state: SimState | None = None
    _stop: Any = field(default=None, repr=False)
    _stop_sync: Any = field(default=None, repr=False)

    def base_url(self, provider: str) -> str:
        return self.url + BASE_PATHS[provider]

    @property
    def base_urls(self) -> dict[str, str]:
        return {name: self.url + path for name, path in BASE_PATHS.items()}

    def env(self) -> dict[str, str]:
        """`PROVIDERS_<NAME>_BASE_URL` for every provider, for a settings object or a child."""
        return {f"PROVIDERS_{k.upper()}_BASE_URL": v for k, v in self.base_urls.items()}

    # A client per call: fixtures share one simulator across tests whose event loops differ.
    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def configure(self, dials: dict[str, Any] | None = None, **kw: Any) -> None:
        """Replace the server-wide dials (names in the package docstring)."""
        await self._call("POST", "/_sim/config", {**(dials or {}), **kw})

    async def reset(self) -> None:
        await self._call("POST", "/_sim/reset")

    async def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", "/_sim/stats")
        return data

    async def received(self, model: str) -> list[dict[str, Any]]:
        """The latest request bodies the simulator got for `model`, oldest first."""
        data: list[dict[str, Any]] = await self._call("GET", f"/_sim/received/{model}")
        return data

    async def stop(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            await stop()

    def stop_blocking(self) -> None:
        """Stop from synchronous code (session fixtures); thread-served simulators only."""
        if self._stop_sync is None:
            raise RuntimeError("stop_blocking() is for start_simulator_thread(); await stop()")
        stop, self._stop_sync, self._stop = self._stop_sync, None, None
        stop()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def make_config(app: Any, **kw: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, http="httptools", lifespan="off", log_level="warning", access_log=False,
        timeout_keep_alive=75, **kw,
    )


def _server(sim: Simulator, loop: str) -> uvicorn.Server:
    server = uvicorn.Server(make_config(sim, loop=loop))
    # Leave the process's signal handlers (pytest's Ctrl+C) alone.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


async def start_simulator(host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve the simulator in the running event loop; port 0 picks a free port."""
    sim = Simulator()
    sock = _bind(host, port)
    server = _server(sim, "none")
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)

    async def stop() -> None:
        server.should_exit = True
        server.force_exit = True  # do not wait for the clients of hung requests
        try:
            await asyncio.wait_for(task, 5)
        except TimeoutError:
            task.cancel()
        sock.close()

    return RunningSimulator(url=f"http://{host}:{sock.getsockname()[1]}", state=sim.state,
                            _stop=stop)


def start_simulator_thread(host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve the simulator from a daemon thread with its own event loop: usable from any
    test's loop (or none), which is what a session-scoped fixture needs."""
    sim = Simulator()
    sock = _bind(host, port)
    server = _server(sim, "asyncio")
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              name="provider-simulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("simulator thread did not start")
        time.sleep(0.005)

    def stop_sync() -> None:
        server.should_exit = True
        server.force_exit = True
        thread.join(5)
        sock.close()

    async def stop() -> None:
        await asyncio.to_thread(stop_sync)

    return RunningSimulator(url=f"http://{host}:{sock.getsockname()[1]}", state=sim.state,
                            _stop=stop, _stop_sync=stop_sync)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def start_simulator_process(host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Run `python -m services.providers.simulator` as a child; waits until it answers."""
    port = port or _free_port(host)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.providers.simulator", "--host", host, "--port", str(port),
        env={**os.environ}, stdout=asyncio.subprocess.DEVNULL, cwd=_REPO_ROOT,
    )
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(timeout=1) as client:
        while True:
            try:
                if (await client.get(url + "/_sim/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.returncode is not None or time.monotonic() > deadline:
                if proc.returncode is None:
                    proc.kill()
                raise RuntimeError(f"simulator did not start on {url}")
            await asyncio.sleep(0.05)

    async def stop() -> None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    return RunningSimulator(url=url, _stop=stop)
