"""In-process circuit state for the embedded backend (same rules as the Redis Lua script)."""

from __future__ import annotations

from dataclasses import dataclass

from services.resilience.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Admission,
    BreakerConfig,
)


@dataclass
class _Circuit:
    state: str = CLOSED
    failures: int = 0
    window_start: float = 0.0
    opened_at: float = 0.0
    successes: int = 0
    probes: int = 0
    probe_at: float = 0.0

    def advance(self, now: float, config: BreakerConfig) -> None:
        if self.state == OPEN and now >= self.opened_at + config.cooldown_s:
            self.state, self.successes, self.probes = HALF_OPEN, 0, 0
        # A probe that never reported (its process died) frees its slot after one cool-down.
        if (self.state == HALF_OPEN and self.probes >= config.half_open_calls
                and now >= self.probe_at + config.cooldown_s):
            self.probes = 0

    def open(self, now: float) -> None:
        self.state, self.opened_at, self.successes, self.probes = OPEN, now, 0, 0


class MemoryBreakerStore:
    """Circuits in a dict; every method runs without awaiting, so each is atomic."""

    def __init__(self) -> None:
        self._circuits: dict[str, _Circuit] = {}

    def _get(self, key: str, now: float, config: BreakerConfig) -> _Circuit:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.advance(now, config)
        return circuit

    async def acquire(self, key: str, now: float, config: BreakerConfig) -> Admission:
        c = self._get(key, now, config)
        if c.state == CLOSED:
            return Admission(True, CLOSED)
        if c.state == OPEN:
            return Admission(False, OPEN, retry_after_s=c.opened_at + config.cooldown_s - now)
        if c.probes < config.half_open_calls:
            c.probes += 1
            c.probe_at = now
            return Admission(True, HALF_OPEN, probe=True)
        return Admission(False, HALF_OPEN, retry_after_s=min(config.cooldown_s, 1.0))

    async def record(
        self, key: str, ok: bool, probe: bool, now: float, config: BreakerConfig
    ) -> str:
        c = self._get(key, now, config)
        if probe and c.probes > 0:
            c.probes -= 1
        if ok:
            if c.state == HALF_OPEN:
                c.successes += 1
                if c.successes >= config.successes:
                    c.state, c.failures, c.window_start, c.successes, c.probes = (
                        CLOSED, 0, now, 0, 0
                    )
        elif c.state == CLOSED:
            if now - c.window_start > config.window_s:
                c.window_start, c.failures = now, 0
            c.failures += 1
            if c.failures >= config.failures:
                c.open(now)
        elif c.state == HALF_OPEN:
            c.open(now)
        return c.state

    async def state(self, key: str, now: float, config: BreakerConfig) -> str:
        return self._get(key, now, config).state
