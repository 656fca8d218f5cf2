"""The one executor behind both request paths.

- `execute_job(ctx, job)`: the worker's entry (queued path); a `stream: true` job's chunks
  go to the job's event log for SSE readers (`GET /api/v1/jobs/{id}/events`).
- `execute_chat(ctx, payload, org_id=...)`: the inline path, whole answer.
- `stream_chat(ctx, payload, org_id=...)`: the inline path, streamed.

Per request: cache -> for each candidate of the fallback chain: breaker -> retry ->
provider -> tool rounds -> cost -> cache store. The result is a dict: content, tool_calls,
finish_reason, usage, provider and model (the ones that answered), latency_ms, cost_usd,
attempts (every provider call: provider, model, outcome, error code, latency) and cache
("hit" | "miss" | "bypass"; services/cache/keys.py says which requests bypass it).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from services.cache.keys import bypass_reason, cache_key
from services.cache.service import BYPASS, HIT, MISS
from services.chat.attempts import Attempt, merged
from services.chat.conversation import StreamOutcome, converse, converse_stream
from services.chat.routing import Call, Candidate
from services.chat.runtime import ChatRuntime, get_runtime
from services.chat.schemas import ChatJobPayload
from services.chat.stream_store import CHUNK
from services.errors import Permanent, PlatformError
from services.jobs.model import Job
from services.observability.prom import CACHE
from services.providers.types import StreamChunk

if TYPE_CHECKING:
    from services.context import Context

_META_FIELDS = ("provider", "model", "usage", "cost_usd", "cache", "latency_ms")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """`chunk` (data: delta, tool_calls, finish_reason, usage) or `done` (data: the result)."""

    event: str
    data: dict[str, Any]


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


def _payload(raw: ChatJobPayload | dict[str, Any]) -> ChatJobPayload:
    if isinstance(raw, ChatJobPayload):
        return raw
    try:
        return ChatJobPayload.model_validate(raw)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise Permanent(f"the chat payload is invalid ({fields})", code="invalid_payload") from exc


def _setup(
    ctx: Context, org_id: str, deadline: float | None, attempts: list[Attempt] | None
) -> tuple[ChatRuntime, Call]:
    runtime = get_runtime(ctx)
    if deadline is None:
        deadline = time.monotonic() + ctx.settings.jobs.deadline_s
    return runtime, Call(runtime, org_id, deadline, attempts if attempts is not None else [])


def _key(runtime: ChatRuntime, org_id: str, payload: ChatJobPayload) -> str | None:
    if not runtime.settings.cache.enabled or bypass_reason(payload) is not None:
        return None
    return cache_key(org_id, payload)


def _result(answer: dict[str, Any], status: str, call: Call, started: float) -> dict[str, Any]:
    result = dict(answer)
    if status == HIT:
        result["cost_usd"] = 0.0  # nobody was billed for this answer
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
    result["attempts"] = [a.as_dict() for a in call.attempts]
    result["cache"] = status
    return result


async def execute_chat(
    ctx: Context, payload: ChatJobPayload | dict[str, Any], *, org_id: str,
    job_id: str | None = None, deadline: float | None = None,
    attempts: list[Attempt] | None = None,
) -> dict[str, Any]:
    """Run one chat request to its final answer.

    `deadline` is a `time.monotonic()` instant (default: now + jobs.deadline_s); `attempts`,
    when given, receives every provider call even if this raises. Raises `Permanent` or
    `Retryable` (services/errors.py); a `RetryLater` means "requeue after retry_after_s".
    """
    payload = _payload(payload)
    started = time.perf_counter()
    runtime, call = _setup(ctx, org_id, deadline, attempts)
    candidates = candidates_of(payload)
    key = _key(runtime, org_id, payload)
    if key is None:
        answer, status = await converse(call, payload, candidates), BYPASS
    else:
        answer, status = await runtime.cache.get_or_compute(
            key, lambda: converse(call, payload, candidates))
    CACHE.labels(status).inc()
    return _result(answer, status, call, started)


async def stream_chat(
    ctx: Context, payload: ChatJobPayload | dict[str, Any], *, org_id: str,
    job_id: str | None = None, deadline: float | None = None,
    attempts: list[Attempt] | None = None,
) -> AsyncIterator[StreamEvent]:
    """Run one chat request, yielding `chunk` events as the model writes, then `done`.

    Streams share the cache (a hit replays the stored answer as one chunk; a completed miss
    is stored) but not single-flight: each stream needs its own live tokens. Errors raise
    out of the iterator; after the first chunk they are final (`stream_interrupted`).
    """
    payload = _payload(payload)
    started = time.perf_counter()
    runtime, call = _setup(ctx, org_id, deadline, attempts)
    key = _key(runtime, org_id, payload)
    cached = await runtime.cache.get(key) if key is not None else None
    if cached is not None:
        CACHE.labels(HIT).inc()
        yield StreamEvent("chunk", {
            "delta": cached.get("content") or "", "tool_calls": cached.get("tool_calls", []),
            "finish_reason": cached.get("finish_reason"), "usage": cached.get("usage")})
        yield StreamEvent("done", _result(cached, HIT, call, started))
        return
    outcome = StreamOutcome()
    async for chunk in converse_stream(call, payload, candidates_of(payload), outcome):
        yield StreamEvent("chunk", chunk_data(chunk))
    assert outcome.answer is not None
    if key is not None:
        await runtime.cache.put(key, outcome.answer)
    status = MISS if key is not None else BYPASS
    CACHE.labels(status).inc()
    yield StreamEvent("done", _result(outcome.answer, status, call, started))


async def execute_job(ctx: Context, job: Job) -> dict[str, Any]:
    """The worker's entry: run the job's chat request and return its result.

    `_meta` in the returned dict (provider, model, usage, cost, cache, attempts) is merged
    into job.meta by the job handler. When this raises, the attempts made so far are
    already in job.meta, so a retried job keeps the history of every try.
    """
    payload = _payload(job.request)
    remaining = job.created_at + ctx.settings.jobs.deadline_s - time.time()
    deadline = time.monotonic() + remaining
    attempts: list[Attempt] = []
    try:
        if payload.stream:
            result = await _stream_into_log(ctx, payload, job, deadline, attempts)
        else:
            result = await execute_chat(ctx, payload, org_id=job.org_id, job_id=job.id,
                                        deadline=deadline, attempts=attempts)
    except PlatformError:
        if attempts:
            await ctx.jobs.update_meta(job.id, {
                "attempts": merged(job.meta.get("attempts", []), attempts)})
        raise
    result["attempts"] = merged(job.meta.get("attempts", []), attempts)
    result["_meta"] = {**{k: result[k] for k in _META_FIELDS}, "attempts": result["attempts"]}
    return result


async def _stream_into_log(
    ctx: Context, payload: ChatJobPayload, job: Job, deadline: float, attempts: list[Attempt]
) -> dict[str, Any]:
    streams = get_runtime(ctx).streams
    result: dict[str, Any] = {}
    async for event in stream_chat(ctx, payload, org_id=job.org_id, job_id=job.id,
                                   deadline=deadline, attempts=attempts):
        if event.event == CHUNK:
            await streams.append(job.id, CHUNK, event.data)
        else:
            result = event.data
    return result
