"""One provider call as the job records it: who was asked, what happened, how long it took."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.errors import PlatformError

OK, ERROR, CIRCUIT_OPEN = "ok", "error", "circuit_open"
# A job redelivered many times keeps only its latest attempts in meta.
MAX_RECORDED = 50


@dataclass(slots=True)
class Attempt:
    provider: str
    model: str
    outcome: str
    latency_ms: float = 0.0
    error_code: str | None = None
    retryable: bool | None = None

    @classmethod
    def failed(cls, provider: str, model: str, error: PlatformError, latency_ms: float) -> Attempt:
        outcome = CIRCUIT_OPEN if error.code == "circuit_open" else ERROR
        return cls(provider, model, outcome, round(latency_ms, 3), error.code, error.retryable)

    def as_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies field by field, ~2% of a proxied call.
        return {"provider": self.provider, "model": self.model, "outcome": self.outcome,
                "latency_ms": self.latency_ms, "error_code": self.error_code,
                "retryable": self.retryable}


def merged(previous: list[dict[str, Any]], new: list[Attempt]) -> list[dict[str, Any]]:
    """Earlier job attempts (from job.meta) followed by this run's, capped."""
    return (previous + [a.as_dict() for a in new])[-MAX_RECORDED:]
