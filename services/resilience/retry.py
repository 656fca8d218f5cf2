"""Retries with exponential backoff and full jitter (tenacity), bounded by a deadline.

Only `Retryable` errors retry (a `CircuitOpen` does not: it moves straight to the fallback).
The wait before attempt n+1 is uniform(0, min(max_s, base_s * 2**(n-1))), the AWS "full
jitter" scheme that spreads a burst of failing callers evenly, and never less than the
error's `retry_after_s`. Waits up to `in_process_max_s` are slept here; a longer one raises
`RetryLater` so the worker requeues the job through a delay queue instead of holding a slot.
Attempts stop when they are spent or when the wait would end past the deadline: the last
error is then raised as it was.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from config import Settings
from services.errors import Retryable
from services.resilience.errors import CircuitOpen, RetryLater

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_s: float = 1.0
    max_s: float = 60.0
    in_process_max_s: float = 5.0
    # Off when the scheduler shapes provider capacity: a 429 then requeues the job for a
    # new capacity slot instead of being retried here past the limiter.
    retry_rate_limited: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            attempts=max(1, settings.resilience.retry_attempts),
            base_s=settings.jobs.retry_base_s,
            max_s=settings.jobs.retry_max_s,
            in_process_max_s=settings.jobs.in_process_retry_max_s,
            retry_rate_limited=not settings.scheduling.capacity,
        )


def should_retry(error: BaseException) -> bool:
    return isinstance(error, Retryable) and not isinstance(error, CircuitOpen)


def _retry_unless_rate_limited(error: BaseException) -> bool:
    return should_retry(error) and getattr(error, "code", None) != "rate_limited"


class _JitterAtLeastRetryAfter(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.base_s, max=policy.max_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        error = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(error, "retry_after_s", None) or 0.0
        return max(backoff, after)


class _StopAtDeadline(stop_base):
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline


def _escalate_long_waits(policy: RetryPolicy) -> Callable[[RetryCallState], None]:
    def before_sleep(retry_state: RetryCallState) -> None:
        if retry_state.upcoming_sleep > policy.in_process_max_s:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            assert isinstance(error, Retryable)
            raise RetryLater(retry_state.upcoming_sleep, error) from error

    return before_sleep


async def call_with_retry(
    fn: Callable[[], Awaitable[T]], policy: RetryPolicy, *, deadline: float
) -> T:
    """Await `fn()` until it succeeds, retrying `Retryable` failures under `policy`.

    `deadline` is a `time.monotonic()` instant: no wait is started that would end after it.
    """
    # The first attempt runs bare: building and driving tenacity's machinery was ~5% of a
    # proxied call's CPU, and nearly every call succeeds at once. A failure is handed to
    # tenacity as its first attempt's outcome, so the policy decides exactly as before.
    try:
        return await fn()
    except Exception as exc:
        first: Exception | None = exc

    async def replay_then_call() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await fn()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | _StopAtDeadline(deadline),
        wait=_JitterAtLeastRetryAfter(policy),
        retry=retry_if_exception(should_retry if policy.retry_rate_limited else _retry_unless_rate_limited),
        before_sleep=_escalate_long_waits(policy),
        reraise=True,
    )
    try:
        return await retrying(replay_then_call)
    except Retryable as exc:
        if policy.retry_rate_limited or exc.code != "rate_limited" or isinstance(exc, RetryLater):
            raise
        # Not retried here: the job goes back to the queue for a capacity slot.
        raise RetryLater(exc.retry_after_s or 0.0, exc) from exc
