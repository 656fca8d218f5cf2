"""The simulator's dials: what a request should suffer (latency, errors, hangs, garbage).

Three sources, later ones overriding earlier ones field by field:

1. the server config (`POST /_sim/config`): top-level dials for every request, then
   `providers.<name>` (name = route prefix: openai, groq, anthropic, ...) and
   `models.<model>` sections;
2. the model name, for models starting with `sim` (`sim-fail-503`, `sim-50ms`, ...);
3. `x-sim-*` request headers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields, replace
from typing import Any

# lognormal p99 = p50 * exp(2.3263 * sigma)
_Z99 = 2.3263478740408408


@dataclass(slots=True, frozen=True)
class Latency:
    kind: str  # "fixed" | "uniform" | "lognormal"
    a: float  # fixed ms | uniform min ms | lognormal p50 ms
    b: float = 0.0  # uniform max ms | lognormal p99 ms

    def sample_ms(self) -> float:
        if self.kind == "uniform":
            return random.uniform(self.a, self.b)
        if self.kind == "lognormal":
            if self.a <= 0:
                return 0.0
            sigma = max(math.log(max(self.b, self.a) / self.a), 0.0) / _Z99
            return random.lognormvariate(math.log(self.a), sigma)
        return self.a

    @classmethod
    def parse(cls, raw: Any) -> Latency | None:
        """`20` (fixed ms), `uniform:5:50` (min:max ms), `lognormal:5:50` (p50:p99 ms), or a
        dict `{"dist": "lognormal", "p50_ms": 5, "p99_ms": 50}` / `{"dist": "uniform",
        "min_ms": 5, "max_ms": 50}`."""
        if raw is None or raw == "":
            return None
        if isinstance(raw, int | float):
            return cls("fixed", float(raw)) if raw > 0 else None
        if isinstance(raw, dict):
            dist = raw.get("dist", "fixed")
            if dist == "uniform":
                return cls("uniform", float(raw["min_ms"]), float(raw["max_ms"]))
            if dist == "lognormal":
                return cls("lognormal", float(raw["p50_ms"]), float(raw["p99_ms"]))
            return cls.parse(float(raw.get("ms", 0)))
        text = str(raw).strip()
        if ":" not in text:
            return cls.parse(float(text.removesuffix("ms")))
        kind, a, b = [*text.split(":"), "0"][:3]
        if kind not in ("uniform", "lognormal", "fixed"):
            raise ValueError(f"unknown latency distribution {kind!r}")
        return cls(kind, float(a), float(b))


@dataclass(slots=True, frozen=True)
class Dials:
    latency: Latency | None = None
    # Pause between streamed chunks, for relay tests (time to first token = latency).
    chunk_delay_ms: float = 0.0
    # status code -> probability, e.g. {503: 0.2}
    error_rate: dict[int, float] = field(default_factory=dict)
    # Always answer this error status.
    status: int | None = None
    # The provider-specific error code/type put in the error body (e.g.
    # context_length_exceeded, content_policy_violation, model_not_found).
    error_code: str | None = None
    # Sent on 429s as `retry-after` (seconds; default 1) / `retry-after-ms`.
    retry_after: float | None = None
    retry_after_ms: float | None = None
    # The first N requests with the same key fail with fail_status, later ones pass.
    fail_first: int = 0
    fail_status: int = 503
    key: str | None = None
    # Never answer: hold the connection until the client gives up.
    hang: bool = False
    # "json": 200 with an invalid JSON body (or an invalid JSON SSE event);
    # "truncate": the stream ends before its final events; "shape": 200 with `{}`.
    malformed: str | None = None

    @property
    def active(self) -> bool:
        return self != NO_DIALS

    def merged(self, overrides: dict[str, Any]) -> Dials:
        return replace(self, **overrides) if overrides else self


NO_DIALS = Dials()
_FIELDS = {f.name for f in fields(Dials)}


def _bool(raw: Any) -> bool:
    return raw is True or str(raw).lower() in ("1", "true", "yes", "on")


def _error_rate(raw: Any) -> dict[int, float]:
    if isinstance(raw, dict):
        return {int(k): float(v) for k, v in raw.items()}
    out: dict[int, float] = {}
    for part in str(raw).split(","):
        if part.strip():
            status, _, rate = part.partition("=")
            out[int(status)] = float(rate)
    return out


_PARSERS: dict[str, Any] = {
    "latency": Latency.parse,
    "chunk_delay_ms": float,
    "error_rate": _error_rate,
    "status": int,
    "error_code": str,
    "retry_after": float,
    "retry_after_ms": float,
    "fail_first": int,
    "fail_status": int,
    "key": str,
    "hang": _bool,
    "malformed": str,
}


def parse_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Dial values from config JSON or headers (already lower-cased, `-` as `_`, without the
    `x_sim_` prefix). Unknown names raise ValueError so typos are loud."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "latency_ms":
            name = "latency"
        if name not in _FIELDS:
            raise ValueError(f"unknown simulator dial {name!r}")
        out[name] = _PARSERS[name](value) if value is not None else None
    return out


def from_model(model: str) -> dict[str, Any]:
    """Dials spelled in a `sim*` model name, tokens separated by `-`:
    `fail-503` (always that status), `failfirst-2` (first 2 requests with this model name
    fail with 503), `50ms` (fixed latency), `hang`, `malformed` (invalid JSON),
    `truncate` (stream cut short), e.g. `sim-fail-429`, `sim-20ms`, `sim-failfirst-2-t81`."""
    out: dict[str, Any] = {}
    tokens = model.split("-")
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "fail" and nxt.isdigit():
            out["status"] = int(nxt)
        elif token == "failfirst" and nxt.isdigit():
            out["fail_first"] = int(nxt)
            out["key"] = model
        elif token.endswith("ms") and token[:-2].replace(".", "", 1).isdigit():
            out["latency"] = Latency("fixed", float(token[:-2]))
        elif token == "hang":
            out["hang"] = True
        elif token in ("malformed", "truncate"):
            out["malformed"] = "json" if token == "malformed" else "truncate"
    return out


@dataclass(slots=True)
class ServerConfig:
    """The dials set through `POST /_sim/config`, pre-merged per provider and model."""

    base: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ServerConfig:
        body = {k: v for k, v in raw.items() if k not in ("providers", "models")}
        return cls(
            base=parse_overrides(body),
            providers={k: parse_overrides(v) for k, v in (raw.get("providers") or {}).items()},
            models={k: parse_overrides(v) for k, v in (raw.get("models") or {}).items()},
            raw=raw,
        )

    @property
    def empty(self) -> bool:
        return not (self.base or self.providers or self.models)

    def for_request(self, provider: str, model: str) -> dict[str, Any]:
        out = dict(self.base)
        out.update(self.providers.get(provider, {}))
        out.update(self.models.get(model, {}))
        return out


def resolve(config: ServerConfig, provider: str, model: str, headers: dict[str, str]) -> Dials:
    """The dials for one request. The common case (no config, a plain model, no x-sim
    header) returns the shared no-op Dials without allocating."""
    sim_model = model.startswith("sim")
    if config.empty and not sim_model and not headers:
        return NO_DIALS
    overrides = config.for_request(provider, model) if not config.empty else {}
    if sim_model:
        overrides.update(from_model(model))
    if headers:
        overrides.update(parse_overrides(headers))
    return NO_DIALS.merged(overrides)
