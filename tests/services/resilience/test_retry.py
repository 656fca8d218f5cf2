"""The retry policy on its own: what retries, how long it waits, when it hands over."""

from __future__ import annotations

import time

import pytest
from tenacity import RetryCallState

from services.errors import Permanent, Retryable
from services.resilience.errors import CircuitOpen, RetryLater
from services.resilience.retry import RetryPolicy, _JitterAtLeastRetryAfter, call_with_retry

FAST = RetryPolicy(attempts=3, base_s=0.001, max_s=0.002, in_process_max_s=1.0)


def _far() -> float:
    return time.monotonic() + 60


class Flaky:
    """Fails with `errors` in order, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_retryable_errors_retry_until_success() -> None:
    fn = Flaky(Retryable("503"), Retryable("503"))
    assert await call_with_retry(fn, FAST, deadline=_far()) == "ok"
    assert fn.calls == 3


async def test_permanent_error_is_not_retried() -> None:
    fn = Flaky(Permanent("bad request"))
    with pytest.raises(Permanent):
        await call_with_retry(fn, FAST, deadline=_far())
    assert fn.calls == 1


async def test_open_circuit_is_not_retried() -> None:
    fn = Flaky(CircuitOpen("openai", "gpt", 3.0))
    with pytest.raises(CircuitOpen):
        await call_with_retry(fn, FAST, deadline=_far())
    assert fn.calls == 1


async def test_spent_attempts_raise_the_last_error() -> None:
    fn = Flaky(Retryable("one"), Retryable("two"), Retryable("three"))
    with pytest.raises(Retryable, match="three"):
        await call_with_retry(fn, FAST, deadline=_far())
    assert fn.calls == 3


async def test_long_retry_after_hands_over_to_the_delay_queue() -> None:
    fn = Flaky(Retryable("429", retry_after_s=30, code="rate_limited"))
    with pytest.raises(RetryLater) as caught:
        await call_with_retry(fn, FAST, deadline=_far())
    assert fn.calls == 1
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s >= 30
    assert caught.value.code == "rate_limited"


async def test_no_wait_starts_past_the_deadline() -> None:
    fn = Flaky(Retryable("429", retry_after_s=0.5))
    with pytest.raises(Retryable) as caught:
        await call_with_retry(fn, FAST, deadline=time.monotonic() + 0.2)
    assert not isinstance(caught.value, RetryLater)
    assert fn.calls == 1


def _state_after(error: Exception, attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_wait_is_full_jitter_and_never_below_retry_after() -> None:
    wait = _JitterAtLeastRetryAfter(RetryPolicy(base_s=1.0, max_s=8.0))
    plain = [wait(_state_after(Retryable("x"), 3)) for _ in range(200)]
    assert all(0 <= w <= 4.0 for w in plain)  # uniform(0, min(8, 1 * 2**2))
    assert len({round(w, 6) for w in plain}) > 100  # jittered, not fixed
    told = [wait(_state_after(Retryable("x", retry_after_s=2.5), 1)) for _ in range(200)]
    assert all(w >= 2.5 for w in told)
