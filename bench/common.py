"""Shared pieces of the benchmarks: services, processes, wrk, memory readings.

Benchmarks compare figures measured in the same run (these machines are shared and noisy),
send traffic only to loopback, and stop by themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, '
    .. '"p50_us": %d, "p99_us": %d, "mean_us": %.1f}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def service_env() -> dict[str, str]:
    """URLs of RabbitMQ, Redis and PostgreSQL: from the environment, or started locally."""
    if os.environ.get("QUEUE_CONNECTIONURL") and os.environ.get("REDIS_URI"):
        return {k: os.environ[k] for k in ("QUEUE_CONNECTIONURL", "REDIS_URI", "TIMESCALE_SERVICE_URL")
                if k in os.environ}
    out = subprocess.run([str(ROOT / "scripts/services.sh"), "start"], check=True,
                         capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line[7:].partition("=")
            env[name] = value.strip('"')
    return env


async def delete_queues(url: str, queue_prefix: str) -> None:
    """Remove a run's queues: each run has its own prefix, and a few hundred left behind made
    RabbitMQ 3.10 stop answering here."""
    import aio_pika

    from services.broker.queues import Queue

    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for kind in Queue:
            name = queue_prefix + kind.value
            for queue in (name, f"{name}.dead"):
                await channel.queue_delete(queue)
            await channel.exchange_delete(f"{name}.dlx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_prefix() -> str:
    return f"bench{uuid.uuid4().hex[:6]}"


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start a platform process; its log goes to bench/out/<role>-<pid>.log."""
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT), "APP_LOG_LEVEL": "WARNING"}
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    log = open(out / f"{args[1] if len(args) > 1 else 'proc'}-{time.time_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, *args], env=full, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def wrk(url: str, body: str, auth: str, *, connections: int, seconds: int,
        headers: dict[str, str] | None = None, timeout_s: float = 2) -> dict[str, float]:
    """POST `body` to `url` as fast as `connections` allow; rps and latency percentiles.
    `auth` is the whole Authorization value ("" sends none); `headers` are added as given;
    a response slower than `timeout_s` counts as an error (wrk's default is 2 s)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "-s", script.name, url],
        env={**os.environ, "WRK_BODY": body, "WRK_AUTH": auth,
             "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())},
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script.name)
    stats = json.loads(out.strip().splitlines()[-1])
    return {
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000, "p99_ms": stats["p99_us"] / 1000,
        "mean_ms": stats["mean_us"] / 1000,
        "errors": stats["errors"] + stats["status_errors"], "requests": stats["requests"],
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def execute_chat(ctx: Any, body: dict[str, Any], *, org_id: str) -> dict[str, Any]:
    """The model executor's result for one chat request, without a job record (what the
    lifecycle hands the executor, minus the job store)."""
    from services.chat.schemas import ChatJobPayload

    executor = ctx.executors.get("model")
    outcome = await executor.complete(ChatJobPayload.model_validate(body), org_id=org_id)
    return dict(outcome.result)
