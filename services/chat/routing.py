"""The fallback chain: each candidate model in turn, through its circuit breaker and retries.

A candidate is left for the next one when its retries are spent, its next wait is too long
to sleep in process (`RetryLater`), its circuit is open, or it refused the request for a
reason another model may not have (FALLBACK_CODES). Any other permanent error (an invalid
request, a content-policy refusal) is the caller's to fix: it ends the chain at once.

When every candidate failed and at least one failure was retryable, the chain raises a
retryable error (with the shortest wait any candidate asked for), so the worker requeues the
job; otherwise it raises the last permanent error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from services.chat.attempts import OK, Attempt
from services.errors import Permanent, PlatformError, Retryable
from services.observability import tracing
from services.observability.prom import PROVIDER_LATENCY
from services.providers.pricing import model_label
from services.providers.types import ChatRequest, ChatResult, Provider, StreamChunk
from services.resilience.breaker import Ticket
from services.resilience.errors import CircuitOpen, RetryLater
from services.resilience.retry import call_with_retry

if TYPE_CHECKING:
    from services.chat.runtime import ChatRuntime

T = TypeVar("T")
FALLBACK_CODES = frozenset({
    "model_not_found", "context_length_exceeded", "unsupported", "auth_failed",
    "quota_exceeded", "unknown_provider",
})


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: str
    model: str


@dataclass
class Call:
    """One request's journey: who it runs for, until when, and every attempt made."""

    runtime: ChatRuntime
    org_id: str
    deadline: float
    attempts: list[Attempt] = field(default_factory=list)

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()


def _record(call: Call, cand: Candidate, outcome: Attempt, seconds: float) -> None:
    call.attempts.append(outcome)
    PROVIDER_LATENCY.labels(cand.provider, model_label(cand.provider, cand.model), outcome.outcome).observe(seconds)


async def _guarded(
    call: Call, cand: Candidate, op: Callable[[Provider, str | None], Awaitable[T]],
    *, settle: bool,
) -> tuple[T, Ticket]:
    """Run `op` under the breaker and the retry policy. With `settle=False` the breaker is
    not told about a success: the caller does, once a stream has finished."""
    runtime = call.runtime
    try:
        provider = runtime.provider(cand.provider)
    except Permanent as exc:
        call.attempts.append(Attempt.failed(cand.provider, cand.model, exc, 0.0))
        raise
    api_key = await runtime.credentials(call.org_id, cand.provider)

    async def once() -> tuple[T, Ticket]:
        # One span per attempt: retries and fallbacks each show up in the job's trace.
        with tracing.span(f"provider {cand.provider}", kind="client", attributes={
            "gen_ai.system": cand.provider, "gen_ai.request.model": cand.model,
        }):
            return await attempt()

    async def attempt() -> tuple[T, Ticket]:
        try:
            ticket = await runtime.breaker.acquire(cand.provider, cand.model)
        except CircuitOpen as exc:
            call.attempts.append(Attempt.failed(cand.provider, cand.model, exc, 0.0))
            raise
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(call.remaining_s(), 0.001)) as scope:
                value = await op(provider, api_key)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            error = Retryable(f"{cand.provider} had not answered when the deadline passed",
                              code="timeout")
            await _fail(call, cand, ticket, error, started)
            raise error from exc
        except PlatformError as exc:
            await _fail(call, cand, ticket, exc, started)
            raise
        elapsed = time.perf_counter() - started
        if settle:
            await runtime.breaker.record(ticket, ok=True)
        _record(call, cand, Attempt(cand.provider, cand.model, OK, round(elapsed * 1000, 3)),
                elapsed)
        return value, ticket

    return await call_with_retry(once, runtime.retry, deadline=call.deadline)


async def _fail(
    call: Call, cand: Candidate, ticket: Ticket, error: PlatformError, started: float
) -> None:
    # A permanent refusal proves the provider is up: only retryable failures trip the circuit.
    # So does a rate limit (it is capacity, which the scheduler shapes, not health).
    healthy = not isinstance(error, Retryable) or error.code == "rate_limited"
    await call.runtime.breaker.record(ticket, ok=healthy)
    elapsed = time.perf_counter() - started
    _record(call, cand, Attempt.failed(cand.provider, cand.model, error, elapsed * 1000), elapsed)


def chain_error(errors: list[PlatformError]) -> PlatformError:
    """The error to raise once every candidate failed."""
    retryable = [e for e in errors if isinstance(e, Retryable)]
    if not retryable:
        return errors[-1]
    waits = [e.retry_after_s for e in retryable
             if isinstance(e, RetryLater | CircuitOpen) and e.retry_after_s]
    last = retryable[-1]
    if waits and not isinstance(last, RetryLater):
        return RetryLater(min(waits), cause=last)
    return last


async def _over_chain(
    call: Call, candidates: list[Candidate],
    op: Callable[[Candidate], Awaitable[T]],
) -> tuple[T, int]:
    if call.remaining_s() <= 0:
        raise Permanent("the job's deadline passed before it could run", code="deadline_exceeded")
    errors: list[PlatformError] = []
    for index, cand in enumerate(candidates):
        try:
            return await op(cand), index
        except Permanent as exc:
            if exc.code not in FALLBACK_CODES:
                raise
            errors.append(exc)
        except Retryable as exc:
            errors.append(exc)
    raise chain_error(errors)


async def complete(
    call: Call, candidates: list[Candidate], request: ChatRequest
) -> tuple[ChatResult, int]:
    """The first candidate's answer that comes through; returns it and the candidate's index."""

    async def one(cand: Candidate) -> ChatResult:
        async def op(provider: Provider, api_key: str | None) -> ChatResult:
            return await provider.complete(request, model=cand.model, api_key=api_key)

        result, _ = await _guarded(call, cand, op, settle=True)
        return result

    return await _over_chain(call, candidates, one)


@dataclass
class OpenStream:
    """A stream whose first chunk has arrived (None: it ended without one)."""

    first: StreamChunk | None
    rest: AsyncIterator[StreamChunk]
    ticket: Ticket
    candidate: Candidate
    index: int


async def open_stream(
    call: Call, candidates: list[Candidate], request: ChatRequest
) -> OpenStream:
    """Start a stream on the first candidate that delivers a first chunk. Retries and
    fallbacks happen only before it: once chunks flow, they have been shown to someone."""

    async def one(cand: Candidate) -> OpenStream:
        async def op(provider: Provider, api_key: str | None) -> tuple[
            StreamChunk | None, AsyncIterator[StreamChunk]
        ]:
            rest = provider.stream(request, model=cand.model, api_key=api_key).__aiter__()
            try:
                return await anext(rest), rest
            except StopAsyncIteration:
                return None, rest

        (first, rest), ticket = await _guarded(call, cand, op, settle=False)
        return OpenStream(first, rest, ticket, cand, 0)

    opened, index = await _over_chain(call, candidates, one)
    opened.index = index
    return opened
