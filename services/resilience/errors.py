"""Errors raised by the resilience layer itself (as opposed to the providers)."""

from __future__ import annotations

from services.errors import Retryable


class CircuitOpen(Retryable):
    """The model's circuit is open: fail fast and move to the next fallback.

    `retry_after_s` is the time left before the circuit lets a probe through.
    """

    code = "circuit_open"

    def __init__(self, provider: str, model: str, retry_after_s: float) -> None:
        super().__init__(
            f"circuit open for {provider}/{model}", retry_after_s=retry_after_s,
            provider=provider, model=model,
        )


class RetryLater(Retryable):
    """The next attempt should wait longer than is worth holding a worker slot for.

    Raised out of the executor so the worker runner requeues the job through a delay queue;
    `cause` is the failure that asked for the wait and `code` is its code.
    """

    def __init__(self, wait_s: float, cause: Retryable) -> None:
        super().__init__(
            f"retry in {wait_s:.1f}s after: {cause.message}", retry_after_s=wait_s,
            code=cause.code,
        )
        self.cause = cause
