"""The simulator's ASGI app: routing, dials, stats and the control endpoints.

A bare ASGI callable rather than a framework: it is the "provider" in benchmarks that
measure ~1 ms of platform overhead, so a plain request costs one dict lookup for the route,
one orjson parse and one orjson dump.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.providers.simulator import anthropic_format, batch_routes, mistral_format, openai_format
from services.providers.simulator.answers import answer
from services.providers.simulator.batches import SimBatches
from services.providers.simulator.dials import NO_DIALS, Dials, ServerConfig, resolve
from services.providers.simulator.ratelimit import RateLimits

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

# Route prefix -> provider name. Each OpenAI-compatible prefix is the real service's base
# path: Groq's SDK posts to /openai/v1/..., OpenRouter's API lives under /api/v1, Gemini's
# OpenAI endpoint under /v1beta/openai, vLLM under /v1.
OPENAI_PREFIXES = {
    "/openai/v1": "openai",
    "/groq/openai/v1": "groq",
    "/openrouter/api/v1": "openrouter",
    "/gemini/v1beta/openai": "gemini",
    "/vllm/v1": "vllm",
}
HANG_MAX_S = 600.0

# Bodies kept per model: enough for a conversation test, bounded for a long bench run.
RECEIVED_PER_MODEL = 50


@dataclass
class SimState:
    """Everything mutable: the config, the fail-first counters and the stats."""

    config: ServerConfig = field(default_factory=ServerConfig)
    attempts: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    by_provider: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    # The last request body per provider, so tests can assert what an adapter sent.
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The latest request bodies per model (RECEIVED_PER_MODEL of them), for tests that
    # assert what each call of a conversation carried.
    received: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    batches: SimBatches = field(default_factory=SimBatches)

    def configure(self, raw: dict[str, Any]) -> None:
        self.config = ServerConfig.parse(raw)

    def reset(self) -> None:
        self.config = ServerConfig()
        self.attempts.clear()
        self.requests = 0
        for counter in (self.by_route, self.by_model, self.by_provider, self.by_status):
            counter.clear()
        self.last.clear()
        self.received.clear()
        self.rate_limits = RateLimits()
        self.batches = SimBatches()

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "by_route": dict(self.by_route),
            "by_model": dict(self.by_model), "by_provider": dict(self.by_provider),
            "by_status": dict(self.by_status), "fail_first_attempts": dict(self.attempts),
            "config": self.config.raw,
        }


@dataclass(slots=True)
class Call:
    """One provider request as a wire-format handler sees it."""

    provider: str
    route: str
    body: dict[str, Any]
    model: str
    dials: Dials


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    return body


async def respond(send: Send, status: int, body: bytes, *, content_type: bytes = b"application/json",
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                    *(headers or ())],
    })
    await send({"type": "http.response.body", "body": body})


async def respond_sse(send: Send, events: list[bytes], dials: Dials) -> None:
    await send({
        "type": "http.response.start", "status": 200,
        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
    })
    if dials.malformed == "truncate":
        events = events[: max(1, len(events) // 2)]
    elif dials.malformed == "json":
        named = events[0].startswith(b"event:")  # Anthropic names every event
        bad = b"event: content_block_delta\n" if named else b""
        events = [*events[:2], bad + b"data: {\"choices\": [{\"delta\"\n\n", *events[2:]]
    if dials.chunk_delay_ms <= 0:
        await send({"type": "http.response.body", "body": b"".join(events)})
        return
    for event in events:
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await asyncio.sleep(dials.chunk_delay_ms / 1000)
    await send({"type": "http.response.body", "body": b""})


def _error_status(state: SimState, dials: Dials) -> int | None:
    if dials.fail_first:
        key = dials.key or "default"
        state.attempts[key] += 1
        if state.attempts[key] <= dials.fail_first:
            return dials.fail_status
    if dials.status:
        return dials.status
    for status, rate in dials.error_rate.items():
        if rate >= 1 or random.random() < rate:
            return status
    return None


async def _hang(receive: Receive) -> None:
    """Hold the request without answering until the client disconnects."""
    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnect(), HANG_MAX_S)
    except TimeoutError:
        pass


def _retry_headers(status: int, dials: Dials) -> list[tuple[bytes, bytes]]:
    if status != 429 and dials.retry_after is None and dials.retry_after_ms is None:
        return []
    out = [(b"retry-after", f"{dials.retry_after if dials.retry_after is not None else 1:g}".encode())]
    if dials.retry_after_ms is not None:
        out.append((b"retry-after-ms", f"{dials.retry_after_ms:g}".encode()))
    return out


def _sim_headers(scope: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name.startswith(b"x-sim-"):
            out[name[6:].decode().replace("-", "_")] = value.decode()
    return out


class Simulator:
    """The ASGI app. `state` is public so in-process tests can read or set it directly."""

    def __init__(self, state: SimState | None = None) -> None:
        self.state = state or SimState()
        self.routes: dict[str, tuple[str, str, Callable[..., Awaitable[None]]]] = {}
        for prefix, provider in OPENAI_PREFIXES.items():
            self.routes[f"{prefix}/chat/completions"] = (provider, "chat", self._openai_chat)
            self.routes[f"{prefix}/embeddings"] = (provider, "embeddings", self._openai_embed)
        self.routes["/anthropic/v1/messages"] = ("anthropic", "chat", self._anthropic)
        self.routes["/mistral/v1/chat/completions"] = ("mistral", "chat", self._mistral_chat)
        self.routes["/mistral/v1/embeddings"] = ("mistral", "embeddings", self._mistral_embed)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if batch_routes.handles(path):
            await self._batch_api(path, scope, receive, send)
            return
        route = self.routes.get(path) or self._compatible_route(path)
        if route is None:
            await self._control(path, scope, receive, send)
            return
        provider, _, handler = route
        raw = await _read_body(receive)
        try:
            body = orjson.loads(raw) if raw else {}
            headers = _sim_headers(scope)
            model = str(body.get("model") or "")
            dials = resolve(self.state.config, provider, model, headers)
        except (orjson.JSONDecodeError, ValueError, KeyError) as exc:
            await respond(send, 400, orjson.dumps({"error": {"message": f"bad request: {exc}"}}))
            return
        state = self.state
        state.requests += 1
        state.by_route[path] += 1
        state.by_model[model] += 1
        state.by_provider[provider] += 1
        state.last[provider] = body
        state.received.setdefault(model, deque(maxlen=RECEIVED_PER_MODEL)).append(body)
        call = Call(provider, path, body, model, dials)
        allowed, limit_headers = state.rate_limits.check(provider, model)
        if not allowed:
            state.by_status["429"] += 1
            await respond(send, 429, _error_body(provider, 429, "rate_limit_exceeded"), headers=limit_headers)
            return
        if limit_headers:
            send = _with_headers(send, limit_headers)
        if dials is not NO_DIALS:
            if dials.hang:
                state.by_status["hang"] += 1
                await _hang(receive)
                return
            if dials.latency is not None:
                await asyncio.sleep(dials.latency.sample_ms() / 1000)
            status = _error_status(state, dials)
            if status is not None:
                state.by_status[str(status)] += 1
                await respond(send, status, _error_body(provider, status, dials.error_code),
                              headers=_retry_headers(status, dials))
                return
            if dials.malformed in ("json", "shape") and not body.get("stream"):
                state.by_status["malformed"] += 1
                bad = b'{"id": "chatcmpl-sim", "choices": [{"mess' if dials.malformed == "json" \
                    else b"{}"
                await respond(send, 200, bad)
                return
        state.by_status["200"] += 1
        await handler(call, send)

    async def _batch_api(self, path: str, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """The providers' batch APIs: counted per route like any call, never rate-limited."""
        raw = await _read_body(receive)
        self.state.requests += 1
        self.state.by_route[path] += 1
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}

        async def answer_with(status: int, body: bytes, *, content_type: bytes = b"application/json") -> None:
            await respond(send, status, body, content_type=content_type)

        try:
            await batch_routes.route(self.state.batches, scope["method"], path, headers, raw, answer_with)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            await respond(send, 400, orjson.dumps({"error": {"message": f"bad request: {exc}"}}))

    def _compatible_route(self, path: str) -> tuple[str, str, Any] | None:
        """`/<name>/v1/chat/completions` for any other OpenAI-compatible name (a vLLM entry
        in PROVIDERS_OPENAI_COMPATIBLE), answered like OpenAI under provider `<name>`."""
        parts = path.split("/")
        if len(parts) < 4 or parts[2] != "v1" or len(self.routes) > 200:
            return None
        if path.endswith("/chat/completions"):
            route = (parts[1], "chat", self._openai_chat)
        elif path.endswith("/embeddings"):
            route = (parts[1], "embeddings", self._openai_embed)
        else:
            return None
        self.routes[path] = route
        return route

    async def _openai_chat(self, call: Call, send: Send) -> None:
        prompt = openai_format.parse_prompt(call.body)
        ans = answer(prompt)
        if call.body.get("stream"):
            include = bool((call.body.get("stream_options") or {}).get("include_usage"))
            events = openai_format.stream_events(ans, call.model, include_usage=include,
                                                 groq=call.provider == "groq")
            await respond_sse(send, events, call.dials)
        else:
            await respond(send, 200, openai_format.completion(ans, call.model))

    async def _openai_embed(self, call: Call, send: Send) -> None:
        await respond(send, 200, openai_format.embeddings(call.body, call.model))

    async def _anthropic(self, call: Call, send: Send) -> None:
        ans = answer(anthropic_format.parse_prompt(call.body))
        if call.body.get("stream"):
            await respond_sse(send, anthropic_format.stream_events(ans, call.model), call.dials)
        else:
            await respond(send, 200, anthropic_format.message(ans, call.model))

    async def _mistral_chat(self, call: Call, send: Send) -> None:
        ans = answer(openai_format.parse_prompt(call.body))
        if call.body.get("stream"):
            await respond_sse(send, mistral_format.stream_events(ans, call.model), call.dials)
        else:
            await respond(send, 200, mistral_format.completion(ans, call.model))

    async def _mistral_embed(self, call: Call, send: Send) -> None:
        await respond(send, 200, mistral_format.embeddings(call.body, call.model))

    async def _control(self, path: str, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        method = scope["method"]
        if path == "/_sim/stats" and method == "GET":
            await respond(send, 200, orjson.dumps(self.state.stats()))
        elif path == "/_sim/reset" and method == "POST":
            await _read_body(receive)
            self.state.reset()
            await respond(send, 200, b'{"ok": true}')
        elif path == "/_sim/config" and method == "POST":
            raw = await _read_body(receive)
            try:
                self.state.configure(orjson.loads(raw) if raw else {})
            except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
                await respond(send, 400, orjson.dumps({"error": str(exc)}))
                return
            await respond(send, 200, orjson.dumps({"ok": True, "config": self.state.config.raw}))
        elif path == "/_sim/ratelimits" and method == "POST":
            raw = await _read_body(receive)
            try:
                self.state.rate_limits.configure(orjson.loads(raw) if raw else {})
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
                await respond(send, 400, orjson.dumps({"error": str(exc)}))
                return
            await respond(send, 200, b'{"ok": true}')
        elif path == "/_sim/ratelimits" and method == "GET":
            await respond(send, 200, orjson.dumps(self.state.rate_limits.stats()))
        elif path == "/_sim/batches":
            await respond(send, 200, orjson.dumps(batch_routes.control(self.state.batches, method,
                                                                       await _read_body(receive))))
        elif path == "/_sim/last" and method == "GET":
            await respond(send, 200, orjson.dumps(self.state.last))
        elif path.startswith("/_sim/received/") and method == "GET":
            model = path.removeprefix("/_sim/received/")
            await respond(send, 200, orjson.dumps(list(self.state.received.get(model, ()))))
        elif path == "/_sim/config" and method == "GET":
            await respond(send, 200, orjson.dumps(self.state.config.raw))
        elif path in ("/_sim/health", "/healthz"):
            await respond(send, 200, b'{"ok": true}')
        else:
            await respond(send, 404, orjson.dumps({"error": {"message": f"no route {path}",
                                                             "type": "not_found"}}))


def _with_headers(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return sending


def _error_body(provider: str, status: int, code: str | None) -> bytes:
    if provider == "anthropic":
        return anthropic_format.error_body(status, code)
    if provider == "mistral":
        return mistral_format.error_body(status, code)
    return openai_format.error_body(status, code, provider)

