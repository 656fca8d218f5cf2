"""This platform beside the AI gateways an integrator would pick instead, on this machine.

    PYTHONPATH=. .venv/bin/python bench/peers.py [--seconds 5] [--rounds 3] [--phases off,on] [--stream]
    PYTHONPATH=. .venv/bin/python bench/peers.py --profile sync|hit|stream [--seconds 8]

Every system runs as one process against the same local OpenAI-compatible upstream
(bench/upstream/, its own process, ~0.05 ms a request):

  platform  `python index.py` on the embedded backends, model `openai/gpt-4o-mini`
  portkey   the Portkey gateway (Node, `@portkey-ai/gateway` from npm), provider headers
  litellm   the LiteLLM proxy (`litellm[proxy]==1.105.0`, no database, a master key)
  direct    wrk straight to the upstream: the baseline for added latency

The two gateways are installed outside the project's dependencies, under .bench/ (a venv
and an npm prefix, git-ignored), and reused when present. One generator for all: wrk with
a Lua script (POST bodies), 1 thread. Each round measures every system in turn (A B C A B C)
at 32 connections (requests/s) and at 1 connection (latency); the tables give medians over
the rounds. At one connection the mean latency is 1/rps (a closed loop of one), and the
added latency is that minus the direct one measured in the same round. Ratios are taken
within a round, then the median.

Phase `off`: every cache off (the platform's CACHE_ENABLED=false). Phase `on`: the
platform's cache on, LiteLLM's in-memory cache (`cache_params: {type: local}`), and
Portkey's `x-portkey-config: {"cache": {"mode": "simple"}}`, which the open-source Node
build accepts but does not implement (every answer says `x-portkey-cache-status:
DISABLED`). Each phase checks on the upstream's counter whether a cache answered.
`--stream` sends `stream: true`; a system that fails a stream is left out with the reason
(Portkey 1.15.2 on Node 20 answers streams with 500). wrk waits 10 s for an answer.

`--profile` runs the upstream and the platform only, loads one path with wrk at 32
connections and records the platform with py-spy (`record -f raw`), then prints where the
time goes: top functions by own time, and the share of each library (inclusive).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform as host
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, free_port, stop, wait_port, wrk

BENCH_DIR = ROOT / ".bench"
LITELLM_VERSION = "1.105.0"  # newer ones pin a certifi the local index lacks
LITELLM_VENV = BENCH_DIR / "litellm-venv"
PORTKEY_PREFIX = BENCH_DIR / "portkey"
PORTKEY_SERVER = PORTKEY_PREFIX / "node_modules/@portkey-ai/gateway/build/start-server.js"
MODEL = "gpt-4o-mini"
UPSTREAM_KEY = "sk-bench-upstream"
PLATFORM_KEY = "aim_devbench_peers0123456789abcdefghij"
LITELLM_KEY = "sk-litellm-bench"
MESSAGES = [{"role": "user", "content": "Say hello."}]


@dataclass
class System:
    name: str
    url: str
    model: str
    auth: str
    headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def body(self, stream: bool) -> str:
        # temperature 0: a deterministic request, the only kind the platform's response
        # cache serves by default (a sampled answer is not replayed); the same body for all.
        return json.dumps({"model": self.model, "messages": MESSAGES, "temperature": 0,
                           **({"stream": True} if stream else {})})


def install_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        print(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        subprocess.run([str(LITELLM_VENV / "bin/pip"), "install", "-q", "--disable-pip-version-check",
                        f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    return exe


def install_portkey() -> Path:
    if not PORTKEY_SERVER.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed for the Portkey gateway: apt-get install -y nodejs npm")
        print(f"installing @portkey-ai/gateway into {PORTKEY_PREFIX}", flush=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(PORTKEY_PREFIX), "@portkey-ai/gateway"],
                       check=True)
    return PORTKEY_SERVER


def versions() -> str:
    portkey = json.loads((PORTKEY_SERVER.parents[1] / "package.json").read_text())["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"Portkey gateway {portkey} (Node {node}), LiteLLM {LITELLM_VERSION}, Python {host.python_version()}"


def launch(name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    log = open(out / f"peers-{name}-{time.time_ns()}.log", "wb")
    return subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def post(system: System, stream: bool = False) -> tuple[int, bytes]:
    request = urllib.request.Request(system.url, data=system.body(stream).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": system.auth, **system.headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, str(exc).encode()


def ready(system: System, timeout: float = 120, stream: bool = False) -> None:
    """Wait until the system answers a chat completion with 200 (LiteLLM takes ~10 s), then
    check the kind of request the benchmark sends."""
    deadline = time.time() + timeout
    status, body = 0, b""
    while time.time() < deadline:
        if system.proc is not None and system.proc.poll() is not None:
            raise RuntimeError(f"{system.name} exited with {system.proc.returncode}")
        status, body = post(system)
        if status == 200:
            if stream:
                status, body = post(system, stream)
                if status != 200 or b"[DONE]" not in body:
                    raise RuntimeError(f"{system.name} fails streams: {status} {body[:200]!r}")
            return
        time.sleep(0.5)
    raise RuntimeError(f"{system.name} is not answering: {status} {body[:300]!r}")


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = launch("upstream", [sys.executable, "-m", "bench.upstream", "--port", str(port)],
                  {"PYTHONPATH": str(ROOT)})
    wait_port(port)
    return proc, f"http://127.0.0.1:{port}"


def upstream_served(upstream: str) -> int:
    with urllib.request.urlopen(upstream + "/_stats", timeout=5) as response:
        return int(json.loads(response.read())["chat"])


def start_platform(upstream: str, cache: bool, data_dir: Path) -> System:
    port = free_port()
    shutil.rmtree(data_dir, ignore_errors=True)
    blank = {k: "" for k in ("QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI", "TIMESCALE_SERVICE_URL")}
    env = {**blank, "PYTHONPATH": str(ROOT), "PORT": str(port), "APP_HOST": "127.0.0.1",
           "APP_DATA_DIR": str(data_dir), "APP_DEV_API_KEY": PLATFORM_KEY, "APP_LOG_LEVEL": "WARNING",
           "APP_METRICS_PORT": "0", "PROVIDERS_OPENAI_BASE_URL": upstream + "/v1",
           "OPENAI_API_KEY": UPSTREAM_KEY, "CACHE_ENABLED": "true" if cache else "false"}
    proc = launch("platform", [sys.executable, "index.py"], env)
    return System("platform", f"http://127.0.0.1:{port}/v1/chat/completions", f"openai/{MODEL}",
                  f"Bearer {PLATFORM_KEY}", proc=proc)


def start_portkey(upstream: str, cache: bool) -> System:
    port = free_port()
    proc = launch("portkey", ["node", str(install_portkey()), f"--port={port}", "--headless"], {})
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": upstream + "/v1"}
    if cache:
        headers["x-portkey-config"] = '{"cache":{"mode":"simple"}}'
    return System("portkey", f"http://127.0.0.1:{port}/v1/chat/completions", MODEL, f"Bearer {UPSTREAM_KEY}",
                  headers=headers, proc=proc)


def start_litellm(upstream: str, cache: bool, work: Path) -> System:
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "model_list": [{"model_name": MODEL, "litellm_params": {
            "model": f"openai/{MODEL}", "api_base": upstream + "/v1", "api_key": UPSTREAM_KEY}}],
        "general_settings": {"master_key": LITELLM_KEY},
        "litellm_settings": {"telemetry": False, **({"cache": True, "cache_params": {"type": "local"}}
                                                    if cache else {})},
    }
    path = work / f"litellm-{'cache' if cache else 'nocache'}.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    proc = launch("litellm", [str(install_litellm()), "--config", str(path), "--host", "127.0.0.1",
                              "--port", str(port), "--num_workers", "1"],
                  {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"})
    return System("litellm", f"http://127.0.0.1:{port}/v1/chat/completions", MODEL, f"Bearer {LITELLM_KEY}",
                  proc=proc)


def load(system: System, connections: int, seconds: int, stream: bool) -> dict[str, float]:
    # 10 s, not wrk's 2 s: on a loaded machine LiteLLM's p99 at 32 connections passes 2 s,
    # and a slow answer is an answer.
    result = wrk(system.url, system.body(stream), system.auth, connections=connections, seconds=seconds,
                 headers=system.headers, timeout_s=10)
    if result["errors"]:
        print(f"  ! {system.name}: {result['errors']:.0f} errors in {result['requests']:.0f} requests", flush=True)
    return result


def cpu_s(proc: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds (user + system) the process has used so far; 0 for none."""
    if proc is None:
        return 0.0
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(systems: list[System], rounds: int, seconds: int, stream: bool
            ) -> dict[str, list[dict[str, float]]]:
    for system in systems:  # warm-up: connection pools, JITs, caches
        load(system, 32, 2, stream)
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in systems}
    for n in range(rounds):
        for system in systems:
            before = cpu_s(system.proc)
            many = load(system, 32, seconds, stream)
            cpu_ms = (cpu_s(system.proc) - before) * 1000 / max(1, many["requests"])
            one = load(system, 1, seconds, stream)
            row = {"rps": many["rps"], "p50_32": many["p50_ms"], "p99_32": many["p99_ms"],
                   "lat_1": 1000 / one["rps"], "p50_1": one["p50_ms"], "p99_1": one["p99_ms"],
                   "cpu_ms": cpu_ms, "errors": many["errors"] + one["errors"]}
            results[system.name].append(row)
            print(f"  round {n + 1} {system.name:<9} {row['rps']:8.0f} req/s at 32 (p50 {row['p50_32']:6.2f} ms)"
                  f"   {row['lat_1']:6.2f} ms at 1 (p50 {row['p50_1']:6.2f}, p99 {row['p99_1']:6.2f})"
                  f"   cpu {row['cpu_ms']:5.2f} ms/req"
                  f"   load {os.getloadavg()[0]:.2f}", flush=True)
    return results


def report(title: str, results: dict[str, list[dict[str, float]]]) -> None:
    direct = results["direct"]
    rounds = len(direct)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    def added(name: str) -> float:
        return statistics.median(results[name][i]["lat_1"] - direct[i]["lat_1"] for i in range(rounds))

    def ratio(a: str, b: str, key: str) -> float:
        return statistics.median(results[a][i][key] / results[b][i][key] for i in range(rounds))

    print(f"\n{title} (medians of {rounds} rounds)")
    print("| system | req/s at 32 conns (p50 ms) | latency at 1 conn, ms (p50) | added at 1 conn, ms "
          "| CPU ms/request at 32 |")
    print("|---|---|---|---|---|")
    for name in results:
        add = "" if name == "direct" else f"{added(name):.2f}"
        cpu = "" if name == "direct" else f"{med(name, 'cpu_ms'):.2f}"
        print(f"| {name} | {med(name, 'rps'):,.0f} ({med(name, 'p50_32'):.1f}) "
              f"| {med(name, 'lat_1'):.2f} ({med(name, 'p50_1'):.2f}) | {add} | {cpu} |")
    others = [n for n in results if n not in ("direct", "platform")]
    if "platform" in results:
        for other in others:
            print(f"platform/{other}: req/s {ratio('platform', other, 'rps'):.2f}x, "
                  f"added latency {statistics.median((results['platform'][i]['lat_1'] - direct[i]['lat_1']) / (results[other][i]['lat_1'] - direct[i]['lat_1']) for i in range(rounds)):.2f}x")  # noqa: E501
    print(flush=True)


def run_phase(phase: str, upstream: str, rounds: int, seconds: int, stream: bool, only: set[str]) -> None:
    cache = phase == "on"
    work = Path(f"/tmp/aim-peers-{os.getpid()}")
    direct = System("direct", upstream + "/v1/chat/completions", MODEL, f"Bearer {UPSTREAM_KEY}")
    starters = {"platform": lambda: start_platform(upstream, cache, work / "platform-data"),
                "portkey": lambda: start_portkey(upstream, cache),
                "litellm": lambda: start_litellm(upstream, cache, work)}
    systems = [direct]
    started: list[System] = []  # stopped at the end, including any left out below
    try:
        for name, start in starters.items():
            if name in only:
                started.append(start())
        systems += started
        for system in list(systems):
            try:
                ready(system, stream=stream)
            except RuntimeError as exc:  # e.g. Portkey 1.15.2 on Node 20 answers streams with 500
                print(f"  ! left out: {exc}", flush=True)
                systems.remove(system)
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"\n== caches {phase}, {'stream' if stream else 'sync'}; {when}, "
              f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        for system in systems[1:]:
            before = upstream_served(upstream)
            for _ in range(20):
                status, _body = post(system, stream)
                assert status == 200, (system.name, status, _body[:200])
            reached = upstream_served(upstream) - before
            print(f"  {system.name}: 20 identical requests -> {reached} reached the upstream", flush=True)
        results = measure(systems, rounds, seconds, stream)
        report(f"caches {phase}, {'stream: true' if stream else 'sync'}, load after "
               f"{os.getloadavg()[0]:.2f}", results)
    finally:
        for system in started:
            if system.proc is not None:
                stop(system.proc)
        shutil.rmtree(work, ignore_errors=True)


# --- profiling ---------------------------------------------------------------------------

LIBRARIES = ("openai", "httpx", "httpcore", "h11", "anyio", "pydantic", "pydantic_core", "fastapi",
             "starlette", "uvicorn", "asyncio", "uvloop", "orjson", "json", "services", "api", "workers",
             "logging", "ssl", "typing", "email", "hashlib", "prometheus_client", "redis")


def _frame_lib(frame: str) -> str:
    # py-spy raw frames look like "func (pkg/module.py:12)"
    path = frame.rpartition("(")[2].rstrip(")").split(":")[0]
    parts = path.split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1:]
    elif "python3.11" in parts:
        parts = parts[parts.index("python3.11") + 1:]
    top = parts[0].removesuffix(".py") if parts else "?"
    return top if top in LIBRARIES or not top else ("stdlib/other:" + top)


# Steps of a /v1/chat/completions request, shown with their inclusive share of the samples.
STEPS = (
    ("HTTP server and framework, whole request", "RequestResponseCycle.run_asgi"),
    ("  the route handler (endpoint)", "run_endpoint_function"),
    ("  request validation + auth (dependencies)", "solve_dependencies"),
    ("  response serialisation", "serialize_response"),
    ("    prepare (model -> payload)", "prepare"),
    ("    job record: create", "_start"),
    ("    job record: finish + listeners", "_finish"),
    ("      listeners (metrics, webhooks, ...)", "job_finished"),
    ("    execute_chat (sync)", "execute_chat"),
    ("    stream_chat (stream)", "stream_chat"),
    ("      response cache", "ResponseCache.get_or_compute"),
    ("      circuit breaker", "CircuitBreaker.acquire"),
    ("      retry wrapper (tenacity)", "AsyncRetrying.__call__"),
    ("      provider adapter", "OpenAIAdapter.complete"),
    ("        openai SDK: chat.completions.create", "AsyncCompletions.create"),
    ("          SDK request building (transform of params)", "async_maybe_transform"),
    ("          SDK -> HTTP client send", "AsyncClient.send"),
    ("          SDK response parsing", "AsyncAPIClient._process_response"),
    ("    SSE writer", "StreamingResponse.stream_response"),
)


def summarise(raw: Path, top: int = 25) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    libs_own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        frames = stack.split(";")
        if frames and frames[0].startswith("process"):
            frames = frames[1:]
        if frames and frames[0].startswith("thread"):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        libs_own[_frame_lib(frames[-1])] += count
        for name in {f.split(" (")[0] + " (" + f.rpartition("(")[2] .split(":")[0] + ")" for f in frames}:
            inclusive[name] += count
    if not total:
        print("no samples")
        return
    print(f"\n{total} samples (active only, idle excluded)")
    print("\nown time by library (the leaf frame's package):")
    for lib, n in libs_own.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {lib}")
    print(f"\ntop {top} functions by own time:")
    for frame, n in own.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    by_name: collections.Counter[str] = collections.Counter()
    for frame, n in inclusive.items():
        by_name[frame.split(" (")[0]] = max(by_name[frame.split(" (")[0]], n)
    print("\nsteps (inclusive share):")
    for label, name in STEPS:
        if by_name.get(name):
            print(f"  {100 * by_name[name] / total:5.1f}%  {label}  [{name}]")


def profile(kind: str, seconds: int) -> None:
    pyspy = Path(sys.executable).parent / "py-spy"
    if not pyspy.exists():
        raise SystemExit("py-spy is in the dev extra: uv pip install py-spy")
    up_proc, upstream = start_upstream()
    work = Path(f"/tmp/aim-peers-{os.getpid()}")
    system = start_platform(upstream, kind == "hit", work / "platform-data")
    try:
        ready(system)
        stream = kind == "stream"
        load(system, 32, 2, stream)  # warm-up
        raw = ROOT / "bench" / "out" / f"peers-profile-{kind}-{time.strftime('%H%M%S')}.txt"
        assert system.proc is not None
        results: dict[str, dict[str, float]] = {}
        loader = threading.Thread(target=lambda: results.update(
            load=load(system, 32, seconds + 3, stream)))
        before = cpu_s(system.proc)
        loader.start()
        time.sleep(1)
        subprocess.run([str(pyspy), "record", "-p", str(system.proc.pid), "-d", str(seconds), "-r", "250",
                        "-f", "raw", "-o", str(raw)], check=True, capture_output=True)
        loader.join()
        cpu_ms = (cpu_s(system.proc) - before) * 1000 / max(1, results["load"]["requests"])
        print(f"profile of {kind}: {results['load']['rps']:.0f} req/s at 32 connections, {cpu_ms:.2f} ms CPU "
              f"a request (py-spy sampling included), load {os.getloadavg()[0]:.2f}; raw stacks in "
              f"{raw.relative_to(ROOT)}")
        summarise(raw)
    finally:
        if system.proc is not None:
            stop(system.proc)
        stop(up_proc)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phases", default="off,on", help="off (caches off), on (caches on)")
    parser.add_argument("--systems", default="platform,portkey,litellm")
    parser.add_argument("--stream", action="store_true", help="stream: true requests")
    parser.add_argument("--profile", choices=("sync", "hit", "stream"))
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.seconds)
        return
    only = set(args.systems.split(","))
    if "litellm" in only:
        install_litellm()
    if "portkey" in only:
        install_portkey()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    print(f"{os.cpu_count()} cores ({cpu}); {versions()}; wrk -t1", flush=True)
    up_proc, upstream = start_upstream()
    try:
        for phase in args.phases.split(","):
            run_phase(phase, upstream, args.rounds, args.seconds, args.stream, only)
    finally:
        stop(up_proc)


if __name__ == "__main__":
    main()
