"""The chat executor: the `model` job kind, and the ChatCompleter every other kind that
makes a chat call (chatbot turns, RAG answers) builds on.

Per request: cache -> for each candidate of the fallback chain: breaker -> retry ->
provider -> tool rounds -> cost -> cache store. The result is a dict: content, tool_calls,
finish_reason, usage, provider and model (the ones that answered), latency_ms, cost_usd,
attempts (this run's provider calls: provider, model, outcome, error code, latency) and
cache ("hit" | "miss" | "bypass"; services/chat/cache_keys.py says which requests bypass it).
The Outcome carries the same facts for the job record; the lifecycle writes it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from services.cache.service import BYPASS, HIT, MISS
from services.chat.cache_keys import bypass_reason, cache_key
from services.chat.conversation import StreamOutcome, converse, converse_stream
from services.chat.routing import Call, Candidate
from services.chat.runtime import ChatRuntime
from services.chat.schemas import ChatJobPayload
from services.jobs.executor import Outcome, RunAttempts, StreamEvent
from services.jobs.model import Job, JobKind
from services.observability.prom import CACHE
from services.providers.types import StreamChunk

CHUNK, DONE = "chunk", "done"


def chunk_data(chunk: StreamChunk) -> dict[str, Any]:
    data: dict[str, Any] = {"delta": chunk.delta}
    if chunk.tool_calls:
        data["tool_calls"] = [c.model_dump() for c in chunk.tool_calls]
    if chunk.finish_reason:
        data["finish_reason"] = chunk.finish_reason
    if chunk.usage:
        data["usage"] = chunk.usage.model_dump()
    return data


def candidates_of(payload: ChatJobPayload) -> list[Candidate]:
    return [Candidate(payload.provider, payload.model),
            *(Candidate(f.provider, f.model) for f in payload.fallbacks)]


def outcome_of(result: dict[str, Any]) -> Outcome:
    return Outcome(
        result=result, provider=result.get("provider"), model=result.get("model"),
        usage=result.get("usage"), cost_usd=float(result.get("cost_usd") or 0.0),
        cache=result.get("cache"), latency_ms=result.get("latency_ms"),
    )


class ChatExecutor:
    """Runs chat payloads; registered for the `model` kind (and for any kind that is a plain
    chat call). Implements both the Executor protocol and ChatCompleter."""

    payload_model = ChatJobPayload

    def __init__(self, runtime: ChatRuntime, *, kind: str = JobKind.MODEL) -> None:
        self.runtime = runtime
        self.kind = kind

    # -- Executor ----------------------------------------------------------------------

    def _deadline(self, job: Job) -> float:
        """The job's deadline as a time.monotonic() instant (it counts from submission)."""
        remaining = job.created_at + self.runtime.settings.jobs.deadline_s - time.time()
        return time.monotonic() + remaining

    async def run(self, job: Job, payload: ChatJobPayload, attempts: RunAttempts) -> Outcome:
        return await self.complete(payload, org_id=job.org_id, job_id=job.id, attempts=attempts,
                                   deadline=self._deadline(job))

    def stream(self, job: Job, payload: ChatJobPayload, attempts: RunAttempts) -> AsyncIterator[StreamEvent]:
        return self.complete_stream(payload, org_id=job.org_id, job_id=job.id, attempts=attempts,
                                    deadline=self._deadline(job))

    # -- ChatCompleter -----------------------------------------------------------------

    def _call(self, org_id: str, deadline: float | None, attempts: RunAttempts) -> Call:
        if deadline is None:
            deadline = time.monotonic() + self.runtime.settings.jobs.deadline_s
        return Call(self.runtime, org_id, deadline, attempts.calls)

    def _key(self, org_id: str, payload: ChatJobPayload) -> str | None:
        if not self.runtime.settings.cache.enabled or bypass_reason(payload) is not None:
            return None
        return cache_key(org_id, payload)

    @staticmethod
    def _result(answer: dict[str, Any], status: str, call: Call, started: float) -> dict[str, Any]:
        result = dict(answer)
        if status == HIT:
            result["cost_usd"] = 0.0  # nobody was billed for this answer
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        result["attempts"] = [a.as_dict() for a in call.attempts]
        result["cache"] = status
        return result

    async def complete(
        self, payload: ChatJobPayload, *, org_id: str, job_id: str | None = None,
        attempts: RunAttempts | None = None, deadline: float | None = None,
    ) -> Outcome:
        """Run one chat request to its final answer. Raises `Permanent` or `Retryable`
        (services/errors.py); `attempts` receives every provider call even if this raises."""
        started = time.perf_counter()
        call = self._call(org_id, deadline, attempts or RunAttempts())
        candidates = candidates_of(payload)
        key = self._key(org_id, payload)
        if key is None:
            answer, status = await converse(call, payload, candidates), BYPASS
        else:
            answer, status = await self.runtime.cache.get_or_compute(
                key, lambda: converse(call, payload, candidates))
        CACHE.labels(status).inc()
        return outcome_of(self._result(answer, status, call, started))

    async def complete_stream(
        self, payload: ChatJobPayload, *, org_id: str, job_id: str | None = None,
        attempts: RunAttempts | None = None, deadline: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield `chunk` events as the model writes, then `done` carrying the Outcome.

        Streams share the cache (a hit replays the stored answer as one chunk; a completed
        miss is stored) but not single-flight: each stream needs its own live tokens. Errors
        raise out of the iterator; after the first chunk they are final (`stream_interrupted`).
        """
        started = time.perf_counter()
        call = self._call(org_id, deadline, attempts or RunAttempts())
        key = self._key(org_id, payload)
        cached = await self.runtime.cache.get(key) if key is not None else None
        if cached is not None:
            CACHE.labels(HIT).inc()
            yield StreamEvent(CHUNK, {
                "delta": cached.get("content") or "", "tool_calls": cached.get("tool_calls", []),
                "finish_reason": cached.get("finish_reason"), "usage": cached.get("usage")})
            result = self._result(cached, HIT, call, started)
            yield StreamEvent(DONE, result, outcome_of(result))
            return
        outcome = StreamOutcome()
        async for chunk in converse_stream(call, payload, candidates_of(payload), outcome):
            yield StreamEvent(CHUNK, chunk_data(chunk))
        assert outcome.answer is not None
        if key is not None:
            await self.runtime.cache.put(key, outcome.answer)
        status = MISS if key is not None else BYPASS
        CACHE.labels(status).inc()
        result = self._result(outcome.answer, status, call, started)
        yield StreamEvent(DONE, result, outcome_of(result))
