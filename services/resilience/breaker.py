"""Circuit breaker per provider+model: closed -> open -> half-open -> closed.

`breaker_failures` failures within `breaker_window_s` open the circuit; while open, calls
fail fast with `CircuitOpen` (retryable, so the executor moves to the fallback). After
`breaker_cooldown_s` the circuit is half-open: up to `breaker_half_open_calls` probe calls
run at once; `breaker_successes` successes close it, one failure opens it again.

State lives in a `BreakerStore`: `RedisBreakerStore` (one hash per circuit, updated by a Lua
script, so every worker process shares it) or `MemoryBreakerStore` (the embedded backend).
Both apply the same transition rules, checked by one contract test. Time is wall-clock
seconds from the caller, so processes on one host agree to the millisecond.

Only retryable provider failures (5xx, 429, timeouts, connection errors) count as failures.
A permanent refusal (400, 401, 404) proves the provider is up and counts as a success.

The common path costs no round trip: a success in a closed circuit is not reported, and a
"closed" answer is trusted for `local_ttl_s` (0.5 s) before the store is asked again. A
failure is always reported, so the process that sees the circuit open knows at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from config import Settings
from services.observability.prom import BREAKER_STATE
from services.providers.pricing import model_label
from services.resilience.errors import CircuitOpen

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
STATE_GAUGE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = 5
    window_s: float = 30.0
    cooldown_s: float = 30.0
    successes: int = 2
    half_open_calls: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerConfig:
        r = settings.resilience
        return cls(
            failures=r.breaker_failures, window_s=r.breaker_window_s,
            cooldown_s=r.breaker_cooldown_s, successes=r.breaker_successes,
            half_open_calls=r.breaker_half_open_calls,
        )

    @property
    def ttl_s(self) -> int:
        """Idle circuits vanish (= closed) after this long, so keys never pile up."""
        return int(2 * (self.window_s + self.cooldown_s)) + 60


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    state: str
    # True when the call is a half-open probe (it must report back to free its slot).
    probe: bool = False
    # When refused: seconds until a call may be admitted again.
    retry_after_s: float = 0.0


class BreakerStore(Protocol):
    """Where circuit state lives. Each call is one atomic read-modify-write."""

    async def acquire(self, key: str, now: float, config: BreakerConfig) -> Admission:
        """Admit a call (closed, or a free half-open probe slot) or refuse it (open)."""

    async def record(
        self, key: str, ok: bool, probe: bool, now: float, config: BreakerConfig
    ) -> str:
        """Report a call's outcome; returns the state after it."""

    async def state(self, key: str, now: float, config: BreakerConfig) -> str: ...


@dataclass(frozen=True, slots=True)
class Ticket:
    provider: str
    model: str
    probe: bool
    # The state the call was admitted in.
    state: str = CLOSED


class CircuitBreaker:
    """The executor's view: `acquire` before a provider call, `record` after it."""

    def __init__(
        self, store: BreakerStore, config: BreakerConfig, clock: Callable[[], float] = time.time,
        *, local_ttl_s: float = 0.0,
    ) -> None:
        self.store = store
        self.config = config
        self._clock = clock
        self.local_ttl_s = local_ttl_s
        # key -> monotonic time until which "closed" is trusted without asking the store.
        self._closed_until: dict[str, float] = {}

    @staticmethod
    def key(provider: str, model: str) -> str:
        return f"{provider}:{model}"

    async def acquire(self, provider: str, model: str) -> Ticket:
        """Return a ticket for the call, or raise `CircuitOpen`."""
        key = self.key(provider, model)
        if self._closed_until.get(key, 0.0) > time.monotonic():
            return Ticket(provider, model, False, CLOSED)
        admission = await self.store.acquire(key, self._clock(), self.config)
        BREAKER_STATE.labels(provider, model_label(provider, model)).set(STATE_GAUGE[admission.state])
        if admission.state == CLOSED and self.local_ttl_s > 0:
            self._closed_until[key] = time.monotonic() + self.local_ttl_s
        if not admission.allowed:
            raise CircuitOpen(provider, model, max(admission.retry_after_s, 0.0))
        return Ticket(provider, model, admission.probe, admission.state)

    async def record(self, ticket: Ticket, *, ok: bool) -> None:
        if ok and ticket.state == CLOSED and not ticket.probe:
            # A success changes nothing in a closed circuit: skip the round trip (one of the
            # two Redis calls per provider call on the common path).
            return
        key = self.key(ticket.provider, ticket.model)
        if not ok:
            self._closed_until.pop(key, None)
        state = await self.store.record(key, ok, ticket.probe, self._clock(), self.config)
        BREAKER_STATE.labels(ticket.provider, model_label(ticket.provider, ticket.model)).set(STATE_GAUGE[state])

    async def state(self, provider: str, model: str) -> str:
        return await self.store.state(self.key(provider, model), self._clock(), self.config)
